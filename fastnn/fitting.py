"""How ``Sequential.fit`` runs: its arguments checked, the epochs (one compiled call
each, or many epochs in one call on small data), their logs, the callbacks and the
verbose lines; and what ``fit_many`` shares with it: the settings checks, the guard
against two fits of one model, and BLAS held to one thread while kernels train."""
import contextlib
import os
import threading
import time
from functools import cache

import numpy as np

from ._validation import boolean, non_negative_float, positive_int
from .callbacks import Callback, History, TerminateOnNaN
from .engines import CpuEngine
from .kernels import blas, codes
from .kernels.layout import data_arrays
from .model_data import check_data
from .progress import EpochProgress

# Epochs run in one compiled call (``_fit_epochs_at_once``) on datasets of up to this
# many rows: there the time between epochs (logs, callbacks, checks) outweighs them.
_AT_ONCE_MAX_ROWS = 1 << 16
_AT_ONCE_SECONDS = 0.05  # work per call once the speed is known
_AT_ONCE_MAX_ORDERS = 1 << 22  # sample indices per call (32 MB)

_SLOTS = {"accuracy": codes.T_CORRECT, "mse": codes.T_SQUARED, "mae": codes.T_ABSOLUTE}
_WEIGHTED_SLOTS = {"accuracy": codes.T_WEIGHTED_CORRECT, "mse": codes.T_WEIGHTED_SQUARED,
                   "mae": codes.T_WEIGHTED_ABSOLUTE}


def validation_split_at(where, n, validation_split):
    """Where ``validation_split`` cuts n samples: floor(n * (1 - validation_split)), as
    Keras; a ValueError when either side would be empty."""
    split = int(np.floor(n * (1.0 - validation_split)))
    if split <= 0 or split >= n:
        raise ValueError(f"{where}: validation_split={validation_split} leaves "
                         f"{split} training and {n - split} validation samples of {n}.")
    return split


def fit_settings(where, batch_size, epochs, initial_epoch, validation_split, verbose,
                 shuffle):
    """fit's (and fit_many's) scalar arguments, checked; ``verbose="auto"`` is 1."""
    batch_size = positive_int(where, "batch_size", batch_size)
    epochs = positive_int(where, "epochs", epochs, allow_zero=True)
    initial_epoch = positive_int(where, "initial_epoch", initial_epoch, allow_zero=True)
    validation_split = non_negative_float(where, "validation_split", validation_split,
                                          upper=1.0)
    if verbose not in (0, 1, 2, "auto"):
        raise ValueError(f"{where}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return (batch_size, epochs, initial_epoch, validation_split,
            1 if verbose == "auto" else verbose, boolean(where, "shuffle", shuffle))


# The models being trained, each with the thread that trains it.
_training = {"models": {}, "lock": threading.Lock()}


class training:
    """Mark ``models`` as training for the duration (a context manager); a
    RuntimeError if one already is (a fit in another thread, or a fit started from
    one of its own callbacks): two fits would write the same buffers. A class, not a
    generator-based context: it is entered on every fit call."""

    def __init__(self, models, where):
        self.ids = [id(model) for model in models]
        self.where = where

    def __enter__(self):
        with _training["lock"]:
            running = _training["models"]
            for i, key in enumerate(self.ids):
                if key in running:
                    name = "the model" if self.where == "fit" else f"models[{i}]"
                    raise RuntimeError(f"{self.where}: {name} is already training (in another "
                                       "thread, or from one of its own callbacks); wait for "
                                       "that fit to end.")
            running.update(dict.fromkeys(self.ids, threading.get_ident()))

    def __exit__(self, *exc_info):
        with _training["lock"]:
            for key in self.ids:
                del _training["models"][key]


def training_thread(model):
    """The thread (its ``threading.get_ident()``) training ``model``, or None."""
    return _training["models"].get(id(model))


def _forget_training_after_fork():
    """A forked child runs none of its parent's fits."""
    _training["models"] = {}
    _training["lock"] = threading.Lock()


os.register_at_fork(after_in_child=_forget_training_after_fork)


def fit_model(model, x, y, batch_size, epochs, verbose, callbacks, validation_split,
              validation_data, shuffle, class_weight, sample_weight, initial_epoch):
    """``Sequential.fit`` once the model is compiled and marked as training: its
    arguments checked, the model built, the epochs run; returns the History."""
    where = "fit"
    batch_size, epochs, initial_epoch, validation_split, verbose, shuffle = fit_settings(
        where, batch_size, epochs, initial_epoch, validation_split, verbose, shuffle)
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"fit: callbacks must be a list of Callback instances, got "
                        f"{type(callbacks).__name__}.")
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"fit: callbacks must be fastnn.callbacks.Callback instances, "
                            f"got {type(callback).__name__}.")
    if sample_weight is not None and class_weight is not None:
        raise ValueError("fit: you cannot pass class_weight and sample_weight at the same "
                         "time (as Keras); multiply the class weights into sample_weight.")
    data = check_data(model, where, x, y, sample_weight, class_weight)
    n = data[0].shape[0]
    if validation_data is None and validation_split > 0:
        split = validation_split_at(where, n, validation_split)
        validation = data_arrays(*(a[split:] if a.shape[0] else a for a in data))
        data = data_arrays(*(a[:split] if a.shape[0] else a for a in data))
        if class_weight is not None:  # Keras weighs only the training rows by class
            validation = (*validation[:3], np.ones_like(validation[3]))
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)):
            raise TypeError("fit: validation_data must be a tuple (x_val, y_val) or "
                            "(x_val, y_val, sample_weight_val), got "
                            f"{type(validation_data).__name__}.")
        if len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or "
                             "(x_val, y_val, sample_weight_val), got "
                             f"{len(validation_data)} items.")
        validation = check_data(model, "fit (validation_data)", *validation_data[:2],
                                *validation_data[2:], features=data[0].shape[1])
    else:
        validation = None
    # A batch never holds more than the samples; so capped, a huge batch_size (say
    # 2**63) cannot overflow the kernels' integers.
    batch_size = min(batch_size, data[0].shape[0])
    model._build_for(data[0])

    history = History()
    callbacks = callbacks + [history]  # last, as Keras: it sees what callbacks log
    for callback in callbacks:
        callback.set_model(model)
    model.stop_training = False
    model._resume_epoch = None
    for callback in callbacks:
        callback.on_train_begin()
    if model._resume_epoch is not None:
        initial_epoch = max(initial_epoch, model._resume_epoch)
    model.history = history
    terminate_on_nan = any(isinstance(c, TerminateOnNaN) for c in callbacks)
    # The epoch kernel splits each batch over Numba's threads; BLAS threads on top
    # would oversubscribe the cores.
    model._engine.begin_fit(data, validation, batch_size)
    with blas_threads_held_to_one():
        if _trains_epochs_at_once(model, callbacks, validation, verbose, data[0].shape[0]):
            _fit_epochs_at_once(model, data, batch_size, shuffle, initial_epoch, epochs,
                                verbose, callbacks, terminate_on_nan)
        else:
            for epoch in range(initial_epoch, epochs):
                for callback in callbacks:
                    callback.on_epoch_begin(epoch)
                logs = _train_one_epoch(model, data, batch_size, shuffle, epoch, epochs,
                                        verbose, terminate_on_nan)
                if validation is not None:
                    val = model._evaluate_data(validation, None)
                    logs.update({"val_" + k: v for k, v in val.items()})
                _end_epoch(model, epoch, epochs, logs, callbacks, verbose,
                           validation is not None)
                if model.stop_training:
                    break
    model._engine.end_fit()
    for callback in callbacks:
        callback.on_train_end()
    return history



def _end_epoch(model, epoch, epochs, logs, callbacks, verbose, validated):
    """The end of an epoch: its counter, the callbacks, the verbose line."""
    if np.isfinite(logs["loss"]):  # not an epoch rolled back by TerminateOnNaN
        model.epochs_completed = epoch + 1
    for callback in callbacks:
        callback.on_epoch_end(epoch, logs)
    if verbose == 2 or (verbose == 1 and validated):
        print(f"Epoch {epoch + 1}/{epochs} - " + format_logs(logs))



def _trains_epochs_at_once(model, callbacks, validation, verbose, n):
    """Whether nothing needs Python between epochs, so whole runs of epochs can go
    to one compiled call: a small dataset on the CPU, no validation, no progress
    bar, and no callback but History and TerminateOnNaN (which only read the
    logs, and are given each epoch's afterwards)."""
    return (n <= _AT_ONCE_MAX_ROWS and validation is None and verbose != 1
            and isinstance(model._engine, CpuEngine)
            and all(type(c) in (History, TerminateOnNaN) for c in callbacks))


def _fit_epochs_at_once(model, data, batch_size, shuffle, initial_epoch, epochs, verbose,
                        callbacks, terminate_on_nan):
    """Epochs initial_epoch..epochs in as few compiled calls as keep each about
    _AT_ONCE_SECONDS long; the same arithmetic, shuffles and logs as epoch by epoch."""
    n = data[0].shape[0]
    n_batches = -(-n // batch_size)
    hyper = model.optimizer.hyper(model.dtype)
    # Only History to tell: every finished epoch's logs in one go (per-epoch Python
    # took longer than a tiny network's whole epoch).
    only_history = verbose == 0 and all(type(c) is History for c in callbacks)
    epoch, per_call = initial_epoch, 1  # the first call's epoch may compile
    while epoch < epochs and not model.stop_training:
        count = min(per_call, epochs - epoch, max(1, _AT_ONCE_MAX_ORDERS // n))
        rng_state = model._rng.bit_generator.state if shuffle else None
        if count == 1 and shuffle:  # a view, not a copy: ~1 us of a tiny fit
            orders = model._rng.permutation(n)[np.newaxis]
        elif shuffle:
            orders = np.empty((count, n), dtype=np.int64)
            for row in orders:
                row[:] = model._rng.permutation(n)
        else:
            orders = model._engine.in_order(count, n)
        rates = model.optimizer.rates(count * n_batches, model.dtype)
        saved_params, saved_state = model.params.copy(), model._state.copy()
        start = time.perf_counter()
        try:
            totals = model._engine.train_epochs(data, orders, batch_size, hyper, rates)
        except BaseException:  # Ctrl-C: back to this call's start, as epoch by epoch
            model.params[...], model._state[...] = saved_params, saved_state
            if shuffle:
                model._rng.bit_generator.state = rng_state
            raise
        seconds = time.perf_counter() - start
        per_call = max(1, int(_AT_ONCE_SECONDS * totals.shape[0] / max(seconds, 1e-9)))
        diverged = bool(totals[-1, codes.T_DIVERGED])
        if diverged and shuffle:
            # Draw no further than the failing epoch, as epoch by epoch would.
            model._rng.bit_generator.state = rng_state
            for _ in range(totals.shape[0]):
                model._rng.permutation(n)
        if only_history:
            finished = totals[:-1] if diverged else totals
            columns = _epoch_columns(model, finished)
            for callback in callbacks:
                callback.record_epochs(range(epoch, epoch + finished.shape[0]), columns)
            # Whole numbers: a sum in any order is exact.
            model.optimizer.iterations += int(sum(finished[:, codes.T_BATCHES].tolist()))
            epoch += finished.shape[0]
            model.epochs_completed = max(model.epochs_completed, epoch)
            if not diverged:
                continue
            totals = totals[-1:]
        for row in totals:
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            if row[codes.T_DIVERGED]:
                logs = _diverged(model, epoch, int(row[codes.T_BATCHES]), n_batches,
                                 terminate_on_nan)
            else:
                model.optimizer.iterations += int(row[codes.T_BATCHES])
                logs = epoch_logs(model, row)
            _end_epoch(model, epoch, epochs, logs, callbacks, verbose, False)
            epoch += 1



def _diverged(model, epoch, done, n_batches, terminate_on_nan):
    """After an epoch rolled back for a non-finite loss: raise, or with
    TerminateOnNaN stop quietly; returns that epoch's logs."""
    if not terminate_on_nan:
        raise FloatingPointError(
            f"fit: the loss became non-finite in epoch {epoch + 1} (after {done} of "
            f"{n_batches} batches); the weights and optimizer state were restored to "
            "the start of that epoch. Try a lower learning rate, scaling the inputs, "
            "or clipping the targets.")
    model.stop_training = True
    return {"loss": float("nan")}



def _train_one_epoch(model, data, batch_size, shuffle, epoch, epochs, verbose,
                     terminate_on_nan):
    n = data[0].shape[0]
    rng_state = model._rng.bit_generator.state
    order = model._rng.permutation(n) if shuffle else np.arange(n)
    n_batches = -(-n // batch_size)
    rates = model.optimizer.rates(n_batches, model.dtype)
    hyper = model.optimizer.hyper(model.dtype)
    saved_params, saved_state = model.params.copy(), model._state.copy()
    progress = EpochProgress(epoch, epochs, n, enabled=verbose == 1)
    try:
        totals = model._engine.train_epoch(
            data, order, batch_size, hyper, rates,
            lambda samples, totals: progress.update(samples, epoch_logs(model, totals)))
    except BaseException:
        # Interrupted (Ctrl-C) or failed mid-epoch: the weights hold some of the
        # epoch's steps, the step counter none. Back to the epoch's start (its
        # shuffle included), so a save afterwards is consistent.
        model.params[...] = saved_params
        model._state[...] = saved_state
        model._rng.bit_generator.state = rng_state
        progress.close()
        raise
    done = int(totals[codes.T_BATCHES])
    diverged = totals[codes.T_DIVERGED] or not np.isfinite(model.params).all()
    if diverged:
        model.params[...] = saved_params
        model._state[...] = saved_state
        progress.close()
        return _diverged(model, epoch, done, n_batches, terminate_on_nan)
    model.optimizer.iterations += done
    logs = epoch_logs(model, totals)
    progress.close(logs)
    return logs



def epoch_logs(model, totals):
    """{"loss": ..., metric name: ...} from an epoch's or an evaluation's totals."""
    return {key: float(values[0])
            for key, values in _epoch_columns(model, totals[np.newaxis]).items()}



def _epoch_columns(model, totals):
    """{"loss": (epochs,), metric name: (epochs,)} from many epochs' totals
    (epochs, N_TOTALS): metrics are means over the samples, weighted metrics means
    weighted by the sample weights (0 when every weight is 0, as Keras)."""
    count = np.maximum(totals[:, codes.T_COUNT], 1.0)
    columns = {"loss": totals[:, codes.T_LOSS] / count}
    weight = None
    for name, kind, weighted in model._metric_logs:
        if weighted and weight is None:
            weight = np.where(totals[:, codes.T_WEIGHT] > 0, totals[:, codes.T_WEIGHT], 1.0)
        slot = _WEIGHTED_SLOTS[kind] if weighted else _SLOTS[kind]
        columns[name] = totals[:, slot] / (weight if weighted else count)
    return columns



def format_logs(logs):
    """``loss: 0.1234 - accuracy: 0.9876``: an epoch's or an evaluation's line."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())



def blas_threads_held_to_one():
    """A context holding BLAS libraries to one thread: the kernels split each batch
    over Numba's threads, and BLAS threads on top would oversubscribe the cores. Not
    needed when the kernels call MKL's sequential library (its products never start
    threads), and skipped then: threadpoolctl's limit costs ~0.1 ms a fit, a small
    problem's whole epoch."""
    if blas.PROVIDER == "mkl":
        return contextlib.nullcontext()
    return _blas_pools().limit(limits=1, user_api="blas")


@cache
def _blas_pools():
    """threadpoolctl's controller of the BLAS libraries loaded by the first fit (the
    kernels' own among them), made once: a fresh ``threadpool_limits`` scans every
    loaded library again, ~1 ms per fit."""
    from threadpoolctl import ThreadpoolController  # only with OpenBLAS: not on import

    return ThreadpoolController()
