"""``sweep``: train a grid of configurations as groups of ``fit_many`` calls, in
process, on a ``concurrent.futures`` executor, or on a Dask cluster.

Every configuration is built on the caller's side first (cheap: weights only), so
bad input and unknown metrics fail before any training, and configurations of one
architecture, dtype, loss, metrics and optimizer class are grouped. A task trains
up to ``models_per_task`` models of one group with one ``fit_many`` call and sends
back plain numbers and, for its best model, the model's .npz file as bytes.

Results do not depend on where a configuration trains: its initial weights come
from the sweep's seed and its index alone (``fastnn.set_random_seed`` is in effect
while ``build`` runs), and every task shuffles with the sweep's seed.
"""
import contextlib
import inspect
import itertools
import math
import os
import pickle
import sys
import tempfile
import threading
import time
import uuid
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures import as_completed as _futures_completed

import numba
import numpy as np

from . import seeding
from ._validation import non_negative_float, positive_int
from .many import cross_validation_weights, fit_many
from .model import Sequential

__all__ = ["sweep", "SweepResult"]

_WHERE = "sweep"
_MODES = ("auto", "min", "max")
# The seed sequence in effect while build runs is global state; concurrent builds in
# one process (a ThreadPoolExecutor, a threaded Dask worker) take turns.
_build_lock = threading.Lock()


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


# ------------------------------------------------------------------ argument checks
class _NotAModel(TypeError):
    """build returned something that sweep cannot train: a caller's bug, raised."""


def _checked_params(params):
    """The list of config dicts from a grid (dict of lists) or a list of dicts."""
    if isinstance(params, dict):
        if not params:
            raise ValueError(f"{_WHERE}: params is an empty grid; give at least one name "
                             "and a list of values, e.g. {'learning_rate': [0.01, 0.1]}.")
        for name, values in params.items():
            if not isinstance(name, str):
                raise TypeError(f"{_WHERE}: params keys must be argument names (str), got "
                                f"{type(name).__name__} {name!r}.")
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple,
                                                                            np.ndarray, range)):
                raise TypeError(f"{_WHERE}: params[{name!r}] must be a list of values, got "
                                f"{type(values).__name__} {values!r}; write [{values!r}] for "
                                "one value.")
            if len(values) == 0:
                raise ValueError(f"{_WHERE}: params[{name!r}] is empty; the grid would "
                                 "have no configurations.")
        names = list(params)
        return [dict(zip(names, combination))
                for combination in itertools.product(*(list(params[n]) for n in names))]
    if isinstance(params, (list, tuple)):
        if not params:
            raise ValueError(f"{_WHERE}: params is an empty list; give at least one config "
                             "dict.")
        for i, config in enumerate(params):
            if not isinstance(config, dict):
                raise TypeError(f"{_WHERE}: params[{i}] must be a dict of build's arguments, "
                                f"got {type(config).__name__}.")
            for name in config:
                if not isinstance(name, str):
                    raise TypeError(f"{_WHERE}: params[{i}] keys must be argument names "
                                    f"(str), got {type(name).__name__} {name!r}.")
        return [dict(config) for config in params]
    raise TypeError(f"{_WHERE}: params must be a dict of lists (a grid) or a list of config "
                    f"dicts, got {type(params).__name__}.")


def _checked_build(build, configs):
    """``build``, once every config binds to its signature."""
    if not callable(build):
        raise TypeError(f"{_WHERE}: build must be a function build(**config) returning a "
                        f"compiled Sequential, got {type(build).__name__}.")
    try:
        signature = inspect.signature(build)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return build
    for i, config in enumerate(configs):
        try:
            signature.bind(**config)
        except TypeError as error:
            name = getattr(build, "__name__", "build")
            raise ValueError(f"{_WHERE}: config {i} {config!r} does not fit "
                             f"{name}{signature}: {error}. Give build a parameter for every "
                             "key of params.") from None
    return build


def _runner(client, build):
    if client is None:
        return _LocalRunner()
    distributed = sys.modules.get("distributed")
    if distributed is not None and isinstance(client, distributed.Client):
        return _DaskRunner(client)
    if isinstance(client, Executor):
        if isinstance(client, ProcessPoolExecutor):
            try:
                pickle.dumps(build)
            except Exception as error:
                raise TypeError(f"{_WHERE}: build must be picklable to run on a "
                                f"ProcessPoolExecutor (a function defined at module level, not "
                                f"a lambda or a nested function): {error}") from None
        return _ExecutorRunner(client)
    raise TypeError(f"{_WHERE}: client must be None (in process), a "
                    "concurrent.futures.Executor or a dask.distributed.Client, got "
                    f"{type(client).__module__}.{type(client).__qualname__}.")


def _check_metric(metric, model, index, validated):
    logged = _logged(model, validated)
    if metric not in logged:
        hint = ("; val_* quantities need validation_split, validation_data or cv"
                if metric.startswith("val_") and not validated else "")
        raise ValueError(f"{_WHERE}: metric {metric!r} is not logged by config {index}'s "
                         f"model, which logs {', '.join(map(repr, logged))}{hint}.")


def _checked_data(x, y, validation_data, validation_split, cv, seed, representatives):
    """x (in the models' dtype when they share one), y, validation data and folds,
    checked against one model of each group."""
    models = [model for _, model in representatives.values()]
    if not models:
        return x, y, validation_data, None
    converted = {}
    for model in models:
        data = model._data(_WHERE, converted.get(model.dtype, x), y)
        converted[model.dtype] = data[0]
        if validation_data is not None:
            model._data(f"{_WHERE} (validation_data)", *validation_data[:2],
                        *validation_data[2:], features=data[0].shape[1])
    # One dtype: the tasks get x converted once, here, not each its own copy.
    x = converted.popitem()[1] if len(converted) == 1 else np.asarray(x)
    y = np.asarray(y)
    n = x.shape[0]
    if validation_split:
        split = n - int(n * validation_split)
        if split <= 0 or split >= n:
            raise ValueError(f"{_WHERE}: validation_split={validation_split} leaves {split} "
                             f"training and {n - split} validation samples of {n}.")
    if validation_data is not None:
        validation_data = tuple(np.asarray(v) for v in validation_data)
    folds = None
    if cv is not None:
        if cv > n:
            raise ValueError(f"{_WHERE}: cv={cv} folds need at least {cv} samples; x has {n}.")
        train, held_out = cross_validation_weights(n, cv, seed=seed)
        folds = (train, [(x[rows], y[rows]) for rows in held_out])
    return x, y, validation_data, folds


# --------------------------------------------------------------------- building
def _build_one(build, config, seed, index):
    """``build(**config)`` with ``set_random_seed`` in effect from (seed, index)."""
    with _build_lock:
        saved = seeding._global["sequence"]
        seeding._global["sequence"] = np.random.SeedSequence([seed, index])
        try:
            model = build(**config)
        finally:
            seeding._global["sequence"] = saved
    if not isinstance(model, Sequential):
        raise _NotAModel(f"{_WHERE}: build(**{config!r}) returned a "
                         f"{type(model).__name__}; it must return a compiled "
                         "fastnn Sequential.")
    if model.optimizer is None:
        raise _NotAModel(f"{_WHERE}: build(**{config!r}) returned a model that is not "
                         "compiled; call model.compile(optimizer=..., loss=...) in build.")
    if model.device != "cpu":
        raise _NotAModel(f"{_WHERE}: build(**{config!r}) compiled its model for device "
                         f"{model.device!r}; sweep trains on the CPU (fit_many).")
    return model


def _group_key(model):
    """Models that can train in one fit_many group (and one task)."""
    return (model.dtype.str, model.input_dim,
            tuple((layer.units, layer.activation_code, layer.use_bias)
                  for layer in model.layers),
            model._loss_code, tuple(model.metrics), type(model.optimizer).__name__)


def _tasks(keys, count, folds, models_per_task, slots):
    """Lists of config indices: each one group's configs, in order, chunked."""
    groups = {}
    for i in range(count):
        if i in keys:
            groups.setdefault(keys[i], []).append(i)
    if models_per_task is not None:
        per_task = max(1, models_per_task // folds)
    elif slots is None:
        per_task = None  # in process: a whole group per fit_many call
    else:
        per_task = max(1, math.ceil(len(keys) / (2 * slots)))
    tasks = []
    for members in groups.values():
        size = per_task or len(members)
        tasks += [members[start:start + size] for start in range(0, len(members), size)]
    return tasks


# ------------------------------------------------------------------------ tasks
def _run_task(payload, task, threads=None):
    """A task on whichever process runs it: a list of config indices (one group),
    or ("refit", index). Returns ({index: entry}, best model bytes, best index), or
    the refit model's bytes."""
    with _numba_threads(threads):
        if isinstance(task, tuple):
            return _refit(payload, task[1])
        return _train_group(payload, task)


def _train_group(payload, indices):
    folds = payload["folds"]
    count = 1 if folds is None else len(folds[1])
    entries, members = {}, []
    for i in indices:
        try:
            models = [_build_one(payload["build"], payload["configs"][i], payload["seed"], i)
                      for _ in range(count)]
        except Exception as error:
            entries[i] = {"error": f"build: {type(error).__name__}: {error}"}
            continue
        members.append((i, models))
    trained = {}
    if members:
        try:
            trained = _fit(payload, members)
        except Exception:
            # One config's data or model broke the group: train each alone, afresh,
            # so the others still complete.
            for i, _ in members:
                try:
                    fresh = [_build_one(payload["build"], payload["configs"][i],
                                        payload["seed"], i) for _ in range(count)]
                    trained.update(_fit(payload, [(i, fresh)]))
                except Exception as error:
                    entries[i] = {"error": f"fit: {type(error).__name__}: {error}"}
    best = None
    validated = (folds is not None or payload["validation_data"] is not None
                 or payload["validation_split"] > 0)
    for i, (models, histories, seconds) in trained.items():
        entries[i] = _entry(histories, seconds, _logged(models[0], validated))
        score = entries[i].get(payload["metric"])
        if entries[i]["error"] is None and score is not None and np.isfinite(score):
            candidate = (_rank(score, payload["mode"]), i)
            if best is None or candidate < best[0]:
                best = (candidate, models[0])
    if best is None:
        return entries, None, None
    model_bytes = None if folds is not None else _model_to_bytes(best[1])
    return entries, model_bytes, best[0][1]


def _fit(payload, members):
    """One fit_many call over every model of ``members`` [(index, models)];
    returns {index: (models, histories, its share of the seconds)}."""
    models = [model for _, group in members for model in group]
    kwargs = {"batch_size": payload["batch_size"], "epochs": payload["epochs"], "verbose": 0,
              "seed": payload["seed"]}
    folds = payload["folds"]
    if folds is not None:
        train, held_out = folds
        count = len(held_out)
        kwargs["sample_weight"] = np.concatenate([train] * len(members))
        kwargs["validation_data"] = [held_out[k] for _ in members for k in range(count)]
    elif payload["validation_data"] is not None:
        kwargs["validation_data"] = payload["validation_data"]
    elif payload["validation_split"]:
        kwargs["validation_split"] = payload["validation_split"]
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divergence: reported per entry
        histories = fit_many(models, payload["x"], payload["y"], **kwargs)
    seconds = time.perf_counter() - began
    result, start = {}, 0
    for i, group in members:
        stop = start + len(group)
        result[i] = (group, histories[start:stop], seconds * len(group) / len(models))
        start = stop
    return result


def _logged(model, validated):
    """The names a model's History logs."""
    names = ["loss"] + list(model.metrics)
    return names + ["val_" + name for name in names] if validated else names


def _entry(histories, seconds, names):
    """A result entry from one config's histories (one per fold): final values, the
    history (the folds' mean) and an error for a model that diverged (its final
    values NaN: ``names`` are what it would have logged)."""
    error = None
    for k, history in enumerate(histories):
        if history.stop_reason == "diverged":
            fold = f" (fold {k})" if len(histories) > 1 else ""
            error = (f"fit: the loss became non-finite in epoch {history.stopped_epoch + 1}"
                     f"{fold}; try a lower learning rate")
            break
    if len(histories) == 1:
        history = {name: [float(v) for v in values]
                   for name, values in histories[0].history.items()}
    else:
        epochs = min(len(h.epoch) for h in histories)
        history = {name: [float(np.mean([h.history[name][e] for h in histories]))
                          for e in range(epochs)]
                   for name in histories[0].history}
    entry = {"history": history, "fit_seconds": seconds, "error": error}
    if len(histories) > 1:
        entry["folds"] = [{name: float(values[-1]) for name, values in h.history.items()}
                          for h in histories]
        for name in histories[0].history:
            entry[name] = float(np.mean([fold[name] for fold in entry["folds"]]))
    else:
        entry.update({name: values[-1] for name, values in history.items()})
    if error is not None:  # no finite values to report
        entry.update({name: float("nan") for name in names})
    return entry


def _refit(payload, index):
    """The config ``index`` trained on all the data (the best of a cross-validation)."""
    model = _build_one(payload["build"], payload["configs"][index], payload["seed"], index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit_many([model], payload["x"], payload["y"], batch_size=payload["batch_size"],
                 epochs=payload["epochs"], verbose=0, seed=payload["seed"])
    return _model_to_bytes(model)


def _rank(score, mode):
    """Sort key: smaller is better."""
    return score if mode == "min" else -score


@contextlib.contextmanager
def _numba_threads(threads):
    """Numba's thread count for this thread (``set_num_threads`` is per thread):
    None leaves it; an int; or ("dask", {host: worker threads on it}) for this
    worker's share of its host's cores."""
    if threads is None:
        yield
        return
    if isinstance(threads, tuple):
        threads = _dask_share(threads[1])
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _cores():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _dask_share(host_threads):
    """Cores per worker thread on this worker's host (Dask limits BLAS and OpenMP
    threads in its workers, but not Numba's)."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    total = host_threads.get(get_address_host(worker.address)) or worker.state.nthreads
    return max(1, _cores() // max(1, total))


def _model_to_bytes(model):
    with tempfile.TemporaryDirectory(prefix="fastnn-sweep-") as directory:
        path = os.path.join(directory, "model.npz")
        model.save(path)
        with open(path, "rb") as file:
            return file.read()


def _model_from_bytes(data):
    from .saving import load_model

    with tempfile.TemporaryDirectory(prefix="fastnn-sweep-") as directory:
        path = os.path.join(directory, "model.npz")
        with open(path, "wb") as file:
            file.write(data)
        return load_model(path)


# ---------------------------------------------------------------------- runners
def _progress(total, verbose):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="task", disable=not verbose, leave=False)


class _LocalRunner:
    """Tasks one after another in this process, on all of Numba's threads."""

    def close(self):
        pass

    def slots(self):
        return None

    def run(self, payload, tasks, verbose):
        outputs = []
        with _progress(len(tasks), verbose) as bar:
            for task in tasks:
                try:
                    outputs.append(_run_task(payload, task))
                except Exception as error:
                    outputs.append(error)
                bar.update(1)
        return outputs


class _ExecutorRunner:
    """Tasks on a concurrent.futures executor; the payload travels with each task."""

    def __init__(self, executor):
        self.executor = executor

    def close(self):
        pass  # the executor is the caller's

    def slots(self):
        return getattr(self.executor, "_max_workers", None) or _cores()

    def run(self, payload, tasks, verbose):
        slots = getattr(self.executor, "_max_workers", None)
        threads = max(1, _cores() // slots) if slots else None
        futures = {self.executor.submit(_run_task, payload, task, threads): t
                   for t, task in enumerate(tasks)}
        outputs = [None] * len(tasks)
        with _progress(len(tasks), verbose) as bar:
            for future in _futures_completed(futures):
                try:
                    outputs[futures[future]] = future.result()
                except Exception as error:
                    outputs[futures[future]] = error
                bar.update(1)
        return outputs


class _DaskRunner:
    """Tasks on a Dask cluster: the payload scattered once to every worker, tasks
    retried, results gathered as they complete."""

    retries = 3

    def __init__(self, client):
        self.client = client
        self.shared = None  # the payload's future, once scattered

    def _workers(self):
        return self.client.scheduler_info().get("workers", {})

    def slots(self):
        return max(1, sum(w.get("nthreads", 1) for w in self._workers().values()))

    def run(self, payload, tasks, verbose):
        from distributed import as_completed

        if self.shared is None:
            [self.shared] = self.client.scatter([payload], broadcast=True, hash=False)
        host_threads = {}
        for info in self._workers().values():
            host = info.get("host")
            host_threads[host] = host_threads.get(host, 0) + info.get("nthreads", 1)
        name = f"fastnn-sweep-{uuid.uuid4().hex[:12]}"
        futures = [self.client.submit(_run_task, self.shared, task, ("dask", host_threads),
                                      key=f"{name}-{t}", retries=self.retries, pure=False)
                   for t, task in enumerate(tasks)]
        where = {future.key: t for t, future in enumerate(futures)}
        outputs = [None] * len(tasks)
        try:
            with _progress(len(tasks), verbose) as bar:
                for future, output in as_completed(futures, with_results=True,
                                                   raise_errors=False):
                    outputs[where[future.key]] = output
                    future.release()
                    bar.update(1)
        finally:
            for future in futures:
                future.cancel()
        return outputs

    def close(self):
        if self.shared is not None:
            self.shared.cancel()
            self.shared = None
