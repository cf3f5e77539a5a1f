"""``sweep`` and its ``SweepResult``: check the arguments, build every configuration,
group them into tasks, run the tasks and keep the best."""
import warnings

from .._validation import non_negative_float, positive_int
from .checks import _check_metric, _checked_build, _checked_data, _checked_params
from .runners import _runner
from .tasks import (_WHERE, _build_one, _group_key, _model_from_bytes, _NotAModel, _rank,
                    _tasks)

_MODES = ("auto", "min", "max")


class SweepResult:
    """What ``sweep`` returns: one entry per configuration, and the best of them.

    Attributes
    ----------
    results : list of dict
        In the order of the configurations. Each holds ``"params"`` (the config),
        the final value of every logged quantity (``"loss"``, ``"val_loss"``,
        ``"val_accuracy"``, ...; with ``cv`` the mean over the folds), ``"history"``
        (per-epoch lists; with ``cv`` the mean over the folds), ``"fit_seconds"``
        (the configuration's share of its task's training time) and ``"error"``
        (None, or the message of what failed: its ``build``, its fit, or a loss that
        became non-finite).
    metric : str
        The quantity compared.
    mode : {"min", "max"}
        Whether smaller or larger ``metric`` is better.
    best_index : int or None
        Index of the best configuration (the first one on ties); None if every
        configuration failed.
    best_params : dict or None
    best_score : float or None
        Its ``metric``.

    Examples
    --------
    >>> result.best_params, result.best_score          # doctest: +SKIP
    >>> result.best_model.evaluate(x_test, y_test)     # doctest: +SKIP
    >>> result.to_pandas().sort_values("val_loss")     # doctest: +SKIP
    """

    def __init__(self, results, metric, mode, best_index, best_model_bytes):
        self.results = results
        self.metric = metric
        self.mode = mode
        self.best_index = best_index
        self.best_params = None if best_index is None else results[best_index]["params"]
        self.best_score = None if best_index is None else results[best_index][metric]
        self._best_model_bytes = best_model_bytes
        self._best_model = None

    @property
    def best_model(self):
        """The best configuration's model, trained (a ``Sequential``); with ``cv``,
        trained again on all of x and y. None if every configuration failed."""
        if self._best_model is None and self._best_model_bytes is not None:
            self._best_model = _model_from_bytes(self._best_model_bytes)
        return self._best_model

    def to_pandas(self):
        """One row per configuration: ``param_<name>`` columns, the final value of
        every logged quantity, ``fit_seconds`` and ``error`` (needs pandas).

        Returns
        -------
        pandas.DataFrame
        """
        try:
            import pandas
        except ImportError:
            raise ImportError("SweepResult.to_pandas needs pandas: pip install pandas (or "
                              "fastnn-mlp[dask]).") from None
        rows = []
        for entry in self.results:
            row = {f"param_{k}": v for k, v in entry["params"].items()}
            row.update({k: v for k, v in entry.items()
                        if k not in ("params", "history", "folds")})
            rows.append(row)
        return pandas.DataFrame(rows)

    def __repr__(self):
        failed = sum(entry["error"] is not None for entry in self.results)
        return (f"SweepResult({len(self.results)} configs, {failed} failed, "
                f"best {self.metric}={self.best_score!r} at {self.best_params!r})")


def sweep(build, params, x, y, *, epochs, batch_size=32, validation_split=0.0,
          validation_data=None, cv=None, metric="val_loss", mode="auto", client=None,
          models_per_task=None, seed=0, verbose=1):
    """Train one model per configuration and find the best, in groups of ``fit_many``.

    Parameters
    ----------
    build : callable
        ``build(**config)`` returns a compiled ``Sequential``. While it runs, models
        created with ``seed=None`` draw their seeds from ``(seed, index of the
        config)``, so a configuration's initial weights do not depend on where it
        trains. To run on other processes it must be picklable (a module-level
        function; Dask also ships closures).
    params : dict of lists, or list of dicts
        A grid (every combination, the last key varying fastest) or the configs.
    x, y : array-like
        Training data, as ``Sequential.fit`` takes it.
    epochs : int
    batch_size : int, default=32
    validation_split : float, default=0.0
        Fraction of the samples, taken from the end, held out for ``val_*``.
    validation_data : tuple, optional
        ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``.
    cv : int, optional
        k-fold cross-validation (k >= 2): every configuration trains k models on the
        folds of ``cross_validation_weights(n, k, seed=seed)`` in the same
        ``fit_many`` call, and reports the mean of the folds. The best configuration
        is then trained once more on all of x and y: that is ``best_model``.
    metric : str, default="val_loss"
        The logged quantity that ranks configurations (its final value).
    mode : {"auto", "min", "max"}, default="auto"
        "auto": larger is better for an accuracy, smaller otherwise.
    client : None, concurrent.futures.Executor or dask.distributed.Client
        None trains in this process. An executor (e.g. ``ProcessPoolExecutor``)
        receives the data with every task. A Dask client receives it once
        (scattered to every worker); tasks are retried on errors and rerun on
        another worker when theirs dies.
    models_per_task : int, optional
        The most models (configs x folds) one ``fit_many`` call trains; a config's
        folds stay together. None: a whole group in process; elsewhere, configs
        spread over about two tasks per worker thread.
    seed : int, default=0
        Seeds initial weights (see ``build``), shuffling and the folds.
    verbose : {0, 1}, default=1
        1 shows a progress bar over tasks.

    Returns
    -------
    SweepResult

    Raises
    ------
    TypeError, ValueError
        Bad arguments, found before anything trains: an empty grid, a config that
        ``build``'s signature does not accept, an unknown ``client``, a ``build``
        that returns something other than a compiled Sequential, a ``metric`` the
        models do not log, or data the models cannot take.

    Notes
    -----
    Inside a Dask worker or an executor's process, each task runs Numba on its share
    of the machine's cores (cores / worker threads on that host), not all of them.
    Results agree across clients and ``models_per_task`` to float rounding: a group
    sums each batch's gradient over its models in one product, so group composition
    can change the last bits.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> from fastnn import Sequential, Dense
    >>> from fastnn.optimizers import SGD
    >>> def build(lr, units):
    ...     model = Sequential([Dense(units, activation="relu", input_dim=4), Dense(1)])
    ...     model.compile(optimizer=SGD(lr), loss="mse")
    ...     return model
    >>> x = np.random.default_rng(0).normal(size=(200, 4)).astype("float32")
    >>> y = x.sum(axis=1)
    >>> result = fastnn.sweep(build, {"lr": [0.01, 0.05], "units": [4, 8]}, x, y,
    ...                       epochs=2, validation_split=0.2, verbose=0)
    >>> len(result.results), sorted(result.best_params)
    (4, ['lr', 'units'])
    """
    configs = _checked_params(params)
    build = _checked_build(build, configs)
    epochs = positive_int(_WHERE, "epochs", epochs)
    batch_size = positive_int(_WHERE, "batch_size", batch_size)
    validation_split = non_negative_float(_WHERE, "validation_split", validation_split,
                                          upper=1.0)
    seed = positive_int(_WHERE, "seed", seed, allow_zero=True)
    if verbose not in (0, 1) or isinstance(verbose, float):
        raise ValueError(f"{_WHERE}: verbose must be 0 or 1, got {verbose!r}.")
    if models_per_task is not None:
        models_per_task = positive_int(_WHERE, "models_per_task", models_per_task)
    if cv is not None:
        cv = positive_int(_WHERE, "cv", cv)
        if cv < 2:
            raise ValueError(f"{_WHERE}: cv must be an int >= 2 (the number of folds), or "
                             f"None; got {cv}.")
        if validation_split or validation_data is not None:
            raise ValueError(f"{_WHERE}: cv={cv} holds out each fold itself; pass "
                             "validation_split or validation_data without cv, not both.")
    if validation_data is not None and validation_split:
        raise ValueError(f"{_WHERE}: pass validation_data or validation_split, not both.")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError(f"{_WHERE}: validation_data must be a tuple (x_val, y_val) or "
                            f"(x_val, y_val, sample_weight_val), got "
                            f"{type(validation_data).__name__}.")
    if not isinstance(metric, str):
        raise TypeError(f"{_WHERE}: metric must be a str such as 'val_loss', got "
                        f"{type(metric).__name__}.")
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"{_WHERE}: mode must be one of {', '.join(map(repr, _MODES))}, "
                         f"got {mode!r}.")
    mode = mode if mode != "auto" else ("max" if metric.endswith("accuracy") else "min")
    runner = _runner(client, build)
    validated = cv is not None or validation_data is not None or validation_split > 0

    # Build every configuration here first: errors, groups and data checks before
    # any training.
    results = [{"params": dict(config), "history": None, "fit_seconds": None, "error": None}
               for config in configs]
    keys = {}
    representatives = {}
    for i, config in enumerate(configs):
        try:
            model = _build_one(build, config, seed, i)
        except _NotAModel:
            raise
        except Exception as error:
            results[i]["error"] = f"build: {type(error).__name__}: {error}"
            continue
        key = _group_key(model)
        keys[i] = key
        representatives.setdefault(key, (i, model))
    for key, (i, model) in representatives.items():
        _check_metric(metric, model, i, validated)
    x, y, validation_data, folds = _checked_data(x, y, validation_data, validation_split,
                                                 cv, seed, representatives)
    payload = {"build": build, "configs": configs, "x": x, "y": y, "epochs": epochs,
               "batch_size": batch_size, "validation_split": validation_split,
               "validation_data": validation_data, "folds": folds, "seed": seed,
               "metric": metric, "mode": mode}

    tasks = _tasks(keys, len(configs), cv or 1, models_per_task, runner.slots())
    try:
        best_index, best_bytes = _train(runner, payload, tasks, results, verbose)
        if best_index is not None and cv is not None:
            [best_bytes] = runner.run(payload, [("refit", best_index)], 0)
            if isinstance(best_bytes, BaseException):
                raise RuntimeError(f"{_WHERE}: training the best configuration on all the "
                                   f"data failed: {type(best_bytes).__name__}: "
                                   f"{best_bytes}") from best_bytes
    finally:
        runner.close()
    if best_index is None:
        warnings.warn(f"{_WHERE}: no configuration gave a finite {metric}; best_params and "
                      "best_model are None (see each result's 'error').", RuntimeWarning,
                      stacklevel=2)
    return SweepResult(results, metric, mode, best_index, best_bytes)


def _train(runner, payload, tasks, results, verbose):
    """Run the tasks, fill ``results`` in; (best index, its model's bytes)."""
    metric, mode = payload["metric"], payload["mode"]
    best = None  # (sort key, index, model bytes)
    for task, output in zip(tasks, runner.run(payload, tasks, verbose)):
        if isinstance(output, BaseException):
            for i in task:
                results[i]["error"] = f"task: {type(output).__name__}: {output}"
            continue
        entries, model_bytes, task_best = output
        for i, entry in entries.items():
            results[i].update(entry)
        if task_best is not None:
            candidate = (_rank(results[task_best][metric], mode), task_best, model_bytes)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    for entry in results:
        if entry["error"] is None and entry["history"] is None:
            entry["error"] = "task: no result came back"
    return (None, None) if best is None else best[1:]
