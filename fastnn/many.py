"""``fit_many``: train many models on the same mini-batches, as one group per
architecture (``fastnn.kernels.group`` explains the model axis)."""
import copy
import time
import warnings

import numpy as np

from . import _threads
from . import losses as _losses
from ._blocks import PieceQueue, model_blocks, pieces, train_blocks
from ._validation import boolean, numeric_array, positive_int
from .callbacks import Callback, History
from .kernels import codes
from .kernels import group as group_kernels
from .kernels.optimizers import update_paths
from .fitting import (blas_threads_held_to_one, epoch_logs, fit_settings, training,
                      validation_split_at)
from .model import Sequential
from .model_data import check_data, check_inputs, check_targets
from .progress import EpochProgress

# A kernel call gets at least this much work once the speed is known, so the
# hand-off to the helper threads stays a small part of it; the progress bar then
# updates about 1 / _CALL_SECONDS times a second.
_CALL_SECONDS = 0.1
_FIRST_CALLS = 16  # an epoch's first calls, before the speed is known


def fit_many(models, x, y, *, batch_size=32, epochs=1, verbose=1, callbacks=None,
             validation_split=0.0, validation_data=None, shuffle=True, sample_weight=None,
             class_weight=None, initial_epoch=0, seed=None):
    """Train many compiled models on the same data and the same mini-batches at once.

    Models with the same architecture (widths, activations, biases), dtype, loss and
    metrics form a group that trains in one compiled call per chunk of batches: the
    first layer of all of them is one wide matrix product, and threads
    (``numba.set_num_threads``) take blocks of models. Each model keeps its own
    initial weights, optimizer (any of SGD, Adam, RMSprop, each with its own
    hyperparameters and learning-rate schedule), L2 and sample weights. Sweeps,
    seeds, ensembles and cross-validation folds (see ``cross_validation_weights``)
    are the uses.

    Parameters
    ----------
    models : list of Sequential
        Compiled models (each object once), all taking x's width. Unbuilt models are
        built from it, each from its own seed.
    x, y : array-like
        As ``Sequential.fit``; y must suit each model's loss.
    batch_size, epochs, verbose, initial_epoch, validation_split, class_weight :
        As ``Sequential.fit``. ``verbose=1`` shows one bar for all models (the mean
        loss); ``verbose=2`` prints one line per epoch (the models' loss range).
    callbacks : list of Callback, or list of lists of Callback, optional
        One list for every model (each model gets its own shallow copy of each
        callback, so EarlyStopping keeps a state per model), or one list per model.
        A callback that sets ``model.stop_training`` freezes that model alone: its
        weights stop changing (``EarlyStopping(restore_best_weights=True)`` restores
        its own best) while the others train on; the call returns when all stop.
    validation_data : tuple, or list of tuples, optional
        ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)`` for every model,
        or one such tuple per model (e.g. each fold's held-out rows).
    shuffle : bool, default=True
        Reorder the samples every epoch; all models see the same order.
    sample_weight : array-like (n,) or (len(models), n), optional
        One weight per sample for every model, or one row per model: 0/1 rows train
        each model on its own subset (cross-validation folds) of one dataset. Not
        together with ``class_weight``. As in ``fit``, compiled metrics count every row;
        a fold's own training metrics are its ``compile(weighted_metrics=...)``.
    seed : int, optional
        Seeds the shuffle. None: the first model's own Generator draws the order, as
        its ``fit`` would, so ``fit_many([model], ...)`` shuffles like ``model.fit``.

    Returns
    -------
    list of History
        One per model, in order; each model's ``history`` is its own. A History's
        ``stop_reason`` is None (trained every epoch), ``"callback"`` (a callback
        stopped it) or ``"diverged"``, and ``stopped_epoch`` the epoch it stopped at.

    Notes
    -----
    A model whose loss or weights turn non-finite is rolled back to the start of
    that epoch and frozen, with a RuntimeWarning; the others are unaffected. With
    ``shuffle=False`` each model ends where its own ``fit`` would, to rounding
    (the group sums each batch's gradient in one product, ``fit`` in parts).
    Afterwards every model is an ordinary Sequential.

    Examples
    --------
    >>> import numpy as np, fastnn
    >>> from fastnn import Sequential, Dense
    >>> from fastnn.optimizers import SGD
    >>> x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    >>> y = x[:, :1] * 2.0
    >>> models = []
    >>> for lr in (0.001, 0.01, 0.1):
    ...     m = Sequential([Dense(16, activation="relu", input_dim=8), Dense(1)], seed=0)
    ...     m.compile(optimizer=SGD(lr, momentum=0.9), loss="mse")
    ...     models.append(m)
    >>> histories = fastnn.fit_many(models, x, y, epochs=3, verbose=0, shuffle=False)
    >>> [len(h.history["loss"]) for h in histories]
    [3, 3, 3]
    """
    where = "fit_many"
    models = _checked_models(where, models)
    batch_size, epochs, initial_epoch, validation_split, verbose, shuffle = fit_settings(
        where, batch_size, epochs, initial_epoch, validation_split, verbose, shuffle)
    if seed is not None:
        positive_int(where, "seed", seed, allow_zero=True)
    model_callbacks = _checked_callbacks(where, callbacks, len(models))
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{where}: you cannot pass class_weight and sample_weight at the same "
                         "time (as Sequential.fit and Keras); multiply the class weights into "
                         "sample_weight.")
    groups = _grouped(models)
    datasets = _training_data(where, models, groups, x, y, sample_weight, class_weight)
    n, width = datasets[0][0].shape
    validations = _validation_data(where, models, validation_data, width)
    if validation_data is None and validation_split > 0:
        split = validation_split_at(where, n, validation_split)
        validations = [_rows(datasets[g], slice(split, None), k)
                       for g, members in enumerate(groups) for k in range(len(members))]
        if class_weight is not None:  # as fit: class weights weigh the training rows only
            validations = [v[:3] + (np.ones_like(v[3]),) for v in validations]
        validations = _in_model_order(groups, validations)
        datasets = {g: _rows(data, slice(None, split)) for g, data in datasets.items()}
        n = split
    batch_size = min(batch_size, n)  # as fit: a batch never holds more than the samples
    for model in models:
        model._build_for(datasets[0][0])

    with training(models, where):
        rng = np.random.default_rng(seed) if seed is not None else models[0]._rng
        run = _Run(models, groups, datasets, validations, model_callbacks, batch_size,
                   verbose)
        return run.fit(rng, shuffle, initial_epoch, epochs, n)


def cross_validation_weights(n_samples, n_folds, *, shuffle=True, seed=None):
    """0/1 sample weights of K-fold cross-validation over one dataset.

    Row k of ``train`` is 1 on the samples fold k trains on and 0 on its held-out
    ones; ``held_out[k]`` are the held-out indices. ``fit_many`` on K models with
    ``sample_weight=train`` and ``validation_data=[(x[h], y[h]) for h in held_out]``
    equals K separate ``fit`` calls with those weights (to rounding), in one pass over
    the data. A held-out row still counts in its batch's mean with weight 0, so each
    step is (k-1)/k of a fit on the fold's rows alone, on average: scale the learning
    rate to match one.

    Parameters
    ----------
    n_samples : int
    n_folds : int
        At least 2 and at most ``n_samples``.
    shuffle : bool, default=True
        Assign samples to folds at random (else in order, as scikit-learn's KFold).
    seed : int, optional

    Returns
    -------
    train : ndarray (n_folds, n_samples) float64
    held_out : list of ndarray of int64

    Examples
    --------
    >>> train, held_out = cross_validation_weights(10, 5, shuffle=False)
    >>> train.sum(axis=1).tolist(), held_out[0].tolist()
    ([8.0, 8.0, 8.0, 8.0, 8.0], [0, 1])
    """
    where = "cross_validation_weights"
    n_samples = positive_int(where, "n_samples", n_samples)
    n_folds = positive_int(where, "n_folds", n_folds)
    if not 2 <= n_folds <= n_samples:
        raise ValueError(f"{where}: n_folds must be between 2 and n_samples={n_samples}, "
                         f"got {n_folds}.")
    shuffle = boolean(where, "shuffle", shuffle)
    order = np.random.default_rng(seed).permutation(n_samples) if shuffle \
        else np.arange(n_samples)
    held_out = [np.sort(part) for part in np.array_split(order, n_folds)]
    train = np.ones((n_folds, n_samples))
    for k, rows in enumerate(held_out):
        train[k, rows] = 0.0
    return train, held_out


# ------------------------------------------------------------------ argument checks
def _checked_models(where, models):
    if isinstance(models, Sequential) or not isinstance(models, (list, tuple)):
        raise TypeError(f"{where}: models must be a list of compiled Sequential models, got "
                        f"{type(models).__name__}.")
    models = list(models)
    if not models:
        raise ValueError(f"{where}: models is empty; pass at least one compiled Sequential.")
    seen = {}
    for i, model in enumerate(models):
        if not isinstance(model, Sequential):
            raise TypeError(f"{where}: models[{i}] must be a Sequential, got "
                            f"{type(model).__name__}.")
        if id(model) in seen:
            raise ValueError(f"{where}: models[{i}] is the same object as "
                             f"models[{seen[id(model)]}]; pass each model once (build a "
                             "new Sequential for each copy).")
        seen[id(model)] = i
        if model.optimizer is None:
            raise ValueError(f"{where}: models[{i}] is not compiled; call "
                             "model.compile(optimizer=..., loss=...) first.")
        if not model.layers:
            raise ValueError(f"{where}: models[{i}] has no layers; add Dense layers first.")
        if model.device != "cpu":
            raise ValueError(f"{where}: models[{i}] is compiled for device "
                             f"{model.device!r}; fit_many trains on the CPU: compile it "
                             "with device='cpu'.")
    return models


def _checked_callbacks(where, callbacks, count):
    """One list of callbacks per model (shallow copies of a shared list)."""
    if callbacks is None:
        return [[] for _ in range(count)]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"{where}: callbacks must be a list of Callback instances or a list "
                        f"of such lists (one per model), got {type(callbacks).__name__}.")
    per_model = bool(callbacks) and all(isinstance(c, (list, tuple)) for c in callbacks)
    if per_model and len(callbacks) != count:
        raise ValueError(f"{where}: callbacks has {len(callbacks)} lists for {count} models; "
                         "give one list per model, or one list for all.")
    lists = [list(c) for c in callbacks] if per_model else [list(callbacks)] * count
    for i, items in enumerate(lists):
        for callback in items:
            if not isinstance(callback, Callback):
                at = f"callbacks[{i}]" if per_model else "callbacks"
                raise TypeError(f"{where}: {at} must hold fastnn.callbacks.Callback instances, "
                                f"got {type(callback).__name__}.")
    if not per_model:
        return [[copy.copy(c) for c in items] for items in lists]
    return lists


def _grouped(models):
    """Indices of the models that can train as one group (same dtype, layers, loss with
    its options, metrics, and places and noise shapes of Dropout; every input width is
    checked to be x's), in order of first appearance."""
    groups = {}
    for i, model in enumerate(models):
        key = (model.dtype.str, tuple((l.units, l.activation_code, l.use_bias)
                                      for l in model.layers), model._loss_spec,
               tuple(model.metrics), tuple(model.weighted_metrics),
               tuple((block, layer.mode) for block, layer in model._dropouts))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _training_data(where, models, groups, x, y, sample_weight, class_weight):
    """{group: (x, y, labels, weights (n, members))} in the group's dtype: a sample's
    weights for all the members side by side, as the kernels read them."""
    shape = np.shape(x)
    if len(shape) >= 2:  # name the model whose width differs (the checks below cannot)
        width = int(np.prod(shape[1:]))
        for i, model in enumerate(models):
            if model.input_dim is not None and model.input_dim != width:
                raise ValueError(f"{where}: models[{i}] takes {model.input_dim} input "
                                 f"features, but x has {width}.")
    converted = {}
    datasets = {}
    weights_all = None
    for g, members in enumerate(groups):
        first = models[members[0]]
        if first.dtype not in converted:
            converted[first.dtype] = check_inputs(first, where, x)
        x_g = converted[first.dtype]
        n = x_g.shape[0]
        y_dense, labels = check_targets(first, where, y, n)
        if sample_weight is None:  # 64 models x 16,384 rows: 4 MB, not 8 MB and copies
            weights = np.ones((n, len(members)), first.dtype)
        else:
            if weights_all is None:
                weights_all = _sample_weights(where, sample_weight, len(models), n)
            weights = weights_all[members].T.astype(first.dtype)
        if class_weight is not None:
            weights *= _losses.class_weights(where, class_weight, y_dense, labels,
                                             first._loss_code).astype(first.dtype)[:, None]
        datasets[g] = (x_g, y_dense, labels, np.ascontiguousarray(weights))
    return datasets


def _sample_weights(where, sample_weight, count, n):
    """(count, n) float64 weights from None, (n,) or (count, n)."""
    if sample_weight is None:
        return np.ones((count, n))
    weights = numeric_array(where, "sample_weight", sample_weight, np.float64)
    if weights.shape == (n,):
        weights = np.broadcast_to(weights, (count, n))
    elif weights.shape != (count, n):
        raise ValueError(f"{where}: sample_weight must have shape ({n},) for every model or "
                         f"({count}, {n}), one row per model; got {weights.shape}.")
    if (weights < 0).any():
        raise ValueError(f"{where}: sample_weight must be >= 0.")
    return np.array(weights)


def _validation_data(where, models, validation_data, width):
    """One checked validation tuple per model (or None each)."""
    if validation_data is None:
        return [None] * len(models)
    if not isinstance(validation_data, (tuple, list)):
        raise TypeError(f"{where}: validation_data must be a tuple (x_val, y_val[, "
                        "sample_weight_val]) or a list of such tuples, one per model; got "
                        f"{type(validation_data).__name__}.")
    per_model = (isinstance(validation_data, list) and len(validation_data) > 0
                 and all(isinstance(v, (tuple, list)) for v in validation_data))
    if per_model and len(validation_data) != len(models):
        raise ValueError(f"{where}: validation_data has {len(validation_data)} tuples for "
                         f"{len(models)} models; give one per model, or one tuple for all.")
    items = list(validation_data) if per_model else [validation_data] * len(models)
    checked = []
    for i, (model, item) in enumerate(zip(models, items)):
        if len(item) not in (2, 3):
            raise ValueError(f"{where}: validation_data{f'[{i}]' if per_model else ''} must "
                             f"be (x_val, y_val) or (x_val, y_val, sample_weight_val), got "
                             f"{len(item)} items.")
        checked.append(check_data(model, f"{where} (validation_data for models[{i}])",
                                  *item[:2], *item[2:], features=width))
    return checked


def _rows(data, rows, member=None):
    """Rows of a dataset tuple; with ``member``, that model's weights only."""
    x, y, labels, weights = data
    weights = weights[rows] if member is None else weights[rows, member]
    return (x[rows], y[rows] if y.shape[0] else y, labels[rows] if labels.shape[0] else labels,
            np.ascontiguousarray(weights))


def _in_model_order(groups, per_member):
    """A list in group-member order rearranged into model order."""
    order = [i for members in groups for i in members]
    result = [None] * len(order)
    for i, item in zip(order, per_member):
        result[i] = item
    return result


# ----------------------------------------------------------------------- training
class _Run:
    """One fit_many call: the models, their callbacks and the per-epoch loop."""

    def __init__(self, models, groups, datasets, validations, model_callbacks, batch_size,
                 verbose):
        self.models, self.groups, self.datasets = models, groups, datasets
        self.validations, self.batch_size, self.verbose = validations, batch_size, verbose
        self.callbacks = [items + [History()] for items in model_callbacks]
        self.histories = [items[-1] for items in self.callbacks]
        self.speed = {}  # group: seconds per batch, measured

    def fit(self, rng, shuffle, initial_epoch, epochs, n):
        models = self.models
        for model, items in zip(models, self.callbacks):
            model.stop_training = False
            model._resume_epoch = None
            model.history = items[-1]
            items[-1].stop_reason, items[-1].stopped_epoch = None, None
            for callback in items:
                callback.set_model(model)
                callback.on_train_begin()
        training = [not model.stop_training for model in models]
        with blas_threads_held_to_one():
            for epoch in range(initial_epoch, epochs):
                if not any(training):
                    break
                self._epoch(epoch, epochs, training, rng, shuffle, n)
        for items in self.callbacks:
            for callback in items:
                callback.on_train_end()
        return self.histories

    def _epoch(self, epoch, epochs, training, rng, shuffle, n):
        models = self.models
        for i in np.flatnonzero(training):
            for callback in self.callbacks[i]:
                callback.on_epoch_begin(epoch)
        order = rng.permutation(n) if shuffle else np.arange(n)
        live = [[i for i in members if training[i]] for members in self.groups]
        progress = EpochProgress(epoch, epochs, n * sum(1 for m in live if m),
                                 enabled=self.verbose == 1)
        logs = {}
        for g, members in enumerate(live):
            if members:
                logs.update(self._train_group(g, members, order, progress))
        progress.close({"loss": float(np.mean([v["loss"] for v in logs.values()]))})
        for i, model_logs in sorted(logs.items()):
            model = models[i]
            diverged = not np.isfinite(model_logs["loss"])
            if not diverged:
                model.epochs_completed = epoch + 1
                if self.validations[i] is not None:
                    val = model._evaluate_data(self.validations[i], None)
                    model_logs.update({"val_" + k: v for k, v in val.items()})
            for callback in self.callbacks[i]:
                callback.on_epoch_end(epoch, model_logs)
            history = self.histories[i]
            if diverged or model.stop_training:
                training[i] = False
                history.stop_reason = "diverged" if diverged else "callback"
                history.stopped_epoch = epoch
                if diverged:
                    warnings.warn(f"fit_many: models[{i}]'s loss became non-finite in epoch "
                                  f"{epoch + 1}; its weights and optimizer state were restored "
                                  "to the start of that epoch and it trains no further. The "
                                  "other models were not affected.", RuntimeWarning,
                                  stacklevel=4)
        if self.verbose == 2:
            print(f"Epoch {epoch + 1}/{epochs} - " + _summary(logs, sum(training)))

    def _train_group(self, g, members, order, progress):
        """One epoch of the models ``members`` of group ``g``; returns {model: logs}."""
        models = [self.models[i] for i in members]
        first = models[0]
        layout = _Layout(first, len(models))
        dtype = first.dtype
        x, y, labels, all_weights = self.datasets[g]
        rows = [self.groups[g].index(i) for i in members]
        weights = all_weights if len(rows) == all_weights.shape[1] else all_weights[:, rows]
        data = (x, y, labels, np.ascontiguousarray(weights))
        n, batch_size, count = order.shape[0], self.batch_size, len(models)
        n_batches = -(-n // batch_size)
        params = layout.pack([m.params for m in models])
        # As many slots as the group's most (amsgrad, centered RMSprop: 3); a model
        # with fewer gets zeros there, which its optimizer never reads.
        slots = max(m._state.shape[0] for m in models)
        state = np.stack([layout.pack([m._state[s] if s < m._state.shape[0]
                                       else np.zeros_like(m._state[0]) for m in models])
                          for s in range(slots)])
        grads = np.zeros_like(params)
        sizes, activations, has_bias, _ = first._net
        net = (sizes, activations, has_bias, np.stack([m._net[3] for m in models]))
        optimizer_codes = np.array([m.optimizer.code for m in models], dtype=np.int64)
        hyper = np.stack([m.optimizer.hyper(dtype) for m in models])
        paths = update_paths(optimizer_codes, hyper)
        rates = np.stack([m.optimizer.rates(n_batches, dtype) for m in models])
        specs = [m._dropout_spec(every=True) for m in models]
        drop_blocks, modes = specs[0][0], specs[0][2]
        drop_rates, keys = np.stack([s[1] for s in specs]), np.stack([s[3] for s in specs])
        steps = np.array([m.optimizer.iterations for m in models], dtype=np.int64)
        blocks = model_blocks(count)
        team = min(_threads.team_size(), len(blocks))
        capacity = min(batch_size, n)
        size = group_kernels.workspace_size(sizes, capacity, max(len(b) for b in blocks))
        acts, deltas = np.empty((team, size), dtype), np.empty((team, size), dtype)
        active = np.ones(count, dtype=np.uint8)
        products = {size: group_kernels.product_table(sizes, dtype, size, capacity,
                                                      n % batch_size)
                    for size in {len(b) for b in blocks if len(b)}}
        totals = np.zeros((count, codes.N_TOTALS))
        model_codes = first._codes()
        done = 0
        while done < n_batches:
            per_call = max(1, -(-n_batches // _FIRST_CALLS))
            if g in self.speed:
                per_call = max(per_call, int(_CALL_SECONDS / self.speed[g]))
            last = min(done + per_call, n_batches)
            start, stop = done * batch_size, min(last * batch_size, n)
            calls = []  # [piece][block]
            for a, b in pieces(done, last, team, len(blocks)):
                piece_order = order[a * batch_size:min(b * batch_size, n)]
                optimizer = (optimizer_codes, hyper, np.ascontiguousarray(rates[:, a:b]),
                             paths)
                dropout = (drop_blocks, drop_rates, modes, keys, steps + a)
                calls.append([(totals, net, (params, grads, state), data, piece_order,
                               batch_size, (int(block[0]), int(block[-1]) + 1, active,
                                            products[len(block)]),
                               model_codes, optimizer, dropout) for block in blocks])
            began = time.perf_counter()
            queue = PieceQueue(len(calls), len(blocks), team)
            _threads.run_team(train_blocks, [(calls, queue, acts[t], deltas[t])
                                              for t in range(team)])
            if done > 0 or last == n_batches:  # the first call may include compiling
                self.speed[g] = (time.perf_counter() - began) / (last - done)
            progress.update(stop - start, {"loss": _mean_loss(totals, active)})
            done = last
        result = {}
        # All models' buffers at once (K, P): for 64 x 8-32-32-1, 0.35-0.38 ms an
        # epoch against 1.2-1.4 model by model (of an epoch of ~150 ms).
        trained = [layout.unpack_all(params)] + [layout.unpack_all(state[s])
                                                 for s in range(slots)]
        finite = np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in trained])
        for k, (i, model) in enumerate(zip(members, models)):
            if totals[k, codes.T_DIVERGED] or not finite[k]:
                result[i] = {"loss": float("nan")}  # it keeps its epoch-start weights
                continue
            model.params[...] = trained[0][k]
            for s in range(model._state.shape[0]):
                model._state[s] = trained[1 + s][k]
            model.optimizer.iterations += int(totals[k, codes.T_BATCHES])
            result[i] = epoch_logs(model, totals[k])
        return result


def _mean_loss(totals, active):
    count = np.maximum(totals[:, codes.T_COUNT], 1.0)
    losses = totals[:, codes.T_LOSS] / count
    live = losses[active.astype(bool)]
    return float(live.mean()) if live.size else float("nan")


def _summary(logs, training):
    """One verbose=2 line: the range of each logged value over the models."""
    keys = next(iter(logs.values())).keys() if logs else []
    parts = [f"{training} training"]
    for key in keys:
        values = np.array([v[key] for v in logs.values() if key in v])
        parts.append(f"{key}: {np.nanmin(values):.4f}..{np.nanmax(values):.4f}")
    return " - ".join(parts)


class _Layout:
    """Where each model's flat parameters sit in a group's buffers (the model axis:
    each layer's W of all models, then its b of all models)."""

    def __init__(self, model, count):
        self.count = count
        self.pieces = []  # (slice in a model's buffer, offset in the group's, length)
        offset = 0
        for w, b in model._slices:
            for part in (w, b):
                length = part.stop - part.start
                self.pieces.append((part, offset, length))
                offset += count * length
        self.size = offset

    def pack(self, buffers):
        """One group buffer from the models' flat buffers (in order)."""
        stacked = np.stack(buffers)
        group = np.empty(self.size, stacked.dtype)
        for part, offset, length in self.pieces:
            group[offset:offset + self.count * length] = stacked[:, part].ravel()
        return group

    def unpack_all(self, group):
        """Every model's flat buffer, copied out of a group buffer: (count, P)."""
        models = np.empty((self.count, sum(length for *_, length in self.pieces)),
                          group.dtype)
        for part, offset, length in self.pieces:
            models[:, part] = group[offset:offset + self.count * length].reshape(
                self.count, length)
        return models
