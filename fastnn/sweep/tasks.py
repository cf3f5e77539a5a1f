"""What one sweep task does, on whichever process runs it: build its configurations
(seeded by the sweep's seed and their index), train them with one ``fit_many`` call
and report plain numbers and the best model's file as bytes."""
import contextlib
import math
import os
import tempfile
import threading
import time
import warnings

import numba
import numpy as np

from .. import seeding
from ..many import fit_many
from ..model import Sequential, load_model

_WHERE = "sweep"
# The seed sequence in effect while build runs is global state; concurrent builds in
# one process (a ThreadPoolExecutor, a threaded Dask worker) take turns.
_build_lock = threading.Lock()


class _NotAModel(TypeError):
    """build returned something that sweep cannot train: a caller's bug, raised."""


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
    with tempfile.TemporaryDirectory(prefix="fastnn-sweep-") as directory:
        path = os.path.join(directory, "model.npz")
        with open(path, "wb") as file:
            file.write(data)
        return load_model(path)
