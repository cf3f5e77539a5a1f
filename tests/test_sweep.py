"""fastnn.sweep: grids of configs as groups of fit_many calls, in process, on an
executor and on Dask; the same results wherever a config trains."""
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numba
import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential
from fastnn.optimizers import SGD, Adam

RTOL = 1e-6  # float32, across group compositions (see fit_many's Notes)


def data(n=240, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, (np.abs(x[:, :classes]).argmax(axis=1)).astype(np.int64)


def in_worker():
    """True inside a Dask worker (the caller's own builds run outside one)."""
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def build(lr=0.05, units=8, optimizer="sgd", depth=1, delay=0.0, fail=False,
          threads_report=False):
    """A small classifier; module level so ProcessPoolExecutor and Dask can pickle it."""
    if fail:
        raise RuntimeError("this config cannot be built")
    if threads_report and in_worker():
        raise RuntimeError(f"threads={numba.get_num_threads()}")
    if delay and in_worker():
        time.sleep(delay)
    layers = [Dense(units, activation="relu", input_dim=6)]
    layers += [Dense(units, activation="tanh") for _ in range(depth - 1)]
    model = Sequential(layers + [Dense(3, activation="softmax")])
    opt = SGD(lr, momentum=0.9) if optimizer == "sgd" else Adam(lr)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# Three groups (two widths, two optimizer classes), nine configs.
GRID = [{"lr": lr, "units": units, "optimizer": opt}
        for units, opt in ((8, "sgd"), (8, "adam"), (12, "sgd")) for lr in (0.01, 0.03, 0.1)]
FIT = {"epochs": 2, "batch_size": 16, "validation_split": 0.25}


def assert_same(a, b, rtol=RTOL):
    assert len(a.results) == len(b.results)
    for i, (u, v) in enumerate(zip(a.results, b.results)):
        assert u["params"] == v["params"], i
        assert u["error"] == v["error"], (i, u["error"], v["error"])
        if u["error"] is None:
            for key, values in u["history"].items():
                np.testing.assert_allclose(values, v["history"][key], rtol=rtol,
                                           err_msg=f"config {i} {key}")
    assert a.best_index == b.best_index
    for w, v in zip(a.best_model.get_weights(), b.best_model.get_weights()):
        np.testing.assert_allclose(w, v, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def reference():
    x, y = data()
    return fastnn.sweep(build, GRID, x, y, verbose=0, **FIT)


# ------------------------------------------------------------------------ results
def test_grid_expands_in_order_and_reports_every_logged_value():
    x, y = data()
    result = fastnn.sweep(build, {"lr": [0.01, 0.1], "units": [4, 8, 12]}, x, y, verbose=0,
                          **FIT)
    assert [r["params"] for r in result.results] == [
        {"lr": lr, "units": u} for lr in (0.01, 0.1) for u in (4, 8, 12)]
    for entry in result.results:
        assert entry["error"] is None
        assert set(entry["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        for key, values in entry["history"].items():
            assert len(values) == 2 and entry[key] == values[-1]
        assert entry["fit_seconds"] > 0
    scores = [r["val_loss"] for r in result.results]
    assert result.best_index == int(np.argmin(scores))
    assert result.best_params == result.results[result.best_index]["params"]
    assert result.best_score == min(scores)
    assert result.metric == "val_loss" and result.mode == "min"


def test_best_model_is_the_trained_winner():
    """best_model equals the winning config trained alone with fit_many (seed 0)."""
    x, y = data()
    result = fastnn.sweep(build, GRID, x, y, verbose=0, **FIT)
    best = result.best_model
    assert isinstance(best, Sequential) and best.epochs_completed == 2
    logs = best.evaluate(x[180:], y[180:])
    np.testing.assert_allclose(logs["loss"], result.best_score, rtol=1e-5)


def test_initial_weights_depend_only_on_the_config_index_and_seed():
    x, y = data()
    first = fastnn.sweep(build, GRID, x, y, verbose=0, seed=3, **FIT)
    fastnn.set_random_seed(123)  # the caller's global seed does not leak in
    again = fastnn.sweep(build, GRID, x, y, verbose=0, seed=3, **FIT)
    assert_same(first, again, rtol=0)
    other = fastnn.sweep(build, GRID, x, y, verbose=0, seed=4, **FIT)
    assert other.results[0]["loss"] != first.results[0]["loss"]


@pytest.mark.parametrize("models_per_task", [1, 2, 4, 100])
def test_models_per_task_does_not_change_results(reference, models_per_task):
    x, y = data()
    result = fastnn.sweep(build, GRID, x, y, verbose=0, models_per_task=models_per_task,
                          **FIT)
    assert_same(reference, result)


def test_mode_auto_maximizes_accuracy():
    x, y = data()
    result = fastnn.sweep(build, GRID[:3], x, y, metric="val_accuracy", verbose=0, **FIT)
    assert result.mode == "max"
    assert result.best_score == max(r["val_accuracy"] for r in result.results)
    lowest = fastnn.sweep(build, GRID[:3], x, y, metric="val_accuracy", mode="min",
                          verbose=0, **FIT)
    assert lowest.best_score == min(r["val_accuracy"] for r in result.results)


def test_validation_data_and_training_metric():
    x, y = data()
    xv, yv = data(60, seed=1)
    result = fastnn.sweep(build, {"lr": [0.01, 0.1]}, x, y, epochs=2,
                          validation_data=(xv, yv), verbose=0)
    for entry in result.results:
        assert "val_accuracy" in entry
    plain = fastnn.sweep(build, {"lr": [0.01, 0.1]}, x, y, epochs=2, metric="loss",
                         verbose=0)
    assert "val_loss" not in plain.results[0]
    assert plain.best_score == min(r["loss"] for r in plain.results)


def test_cross_validation_is_the_mean_of_the_folds():
    x, y = data()
    result = fastnn.sweep(build, {"lr": [0.01, 0.1]}, x, y, epochs=2, batch_size=16, cv=3,
                          verbose=0)
    train, held_out = fastnn.cross_validation_weights(len(x), 3, seed=0)
    for index, entry in enumerate(result.results):
        losses = []
        for k in range(3):
            model = _seeded_build(index, lr=entry["params"]["lr"])
            history = fastnn.fit_many([model], x, y, epochs=2, batch_size=16, verbose=0,
                                      seed=0, sample_weight=train[k:k + 1],
                                      validation_data=[(x[held_out[k]], y[held_out[k]])])
            losses.append(history[0].history["val_loss"][-1])
        np.testing.assert_allclose(entry["val_loss"], np.mean(losses), rtol=1e-5)
        assert len(entry["folds"]) == 3
    # best_model: the winner trained once more on all the data
    model = _seeded_build(result.best_index, **result.best_params)
    fastnn.fit_many([model], x, y, epochs=2, batch_size=16, verbose=0, seed=0)
    for w, v in zip(result.best_model.get_weights(), model.get_weights()):
        np.testing.assert_allclose(w, v, rtol=1e-5, atol=1e-7)


def _seeded_build(index, seed=0, **config):
    """``build`` as sweep runs it for config ``index``."""
    from fastnn.sweep.tasks import _build_one
    return _build_one(build, config, seed, index)


def test_cv_models_per_task_keeps_folds_together(reference):
    x, y = data()
    whole = fastnn.sweep(build, GRID[:4], x, y, epochs=2, cv=2, verbose=0)
    split = fastnn.sweep(build, GRID[:4], x, y, epochs=2, cv=2, verbose=0, models_per_task=3)
    assert_same(whole, split)


def test_failed_configs_get_an_error_and_the_others_complete():
    x, y = data()
    configs = [{"lr": 0.05}, {"lr": 0.05, "fail": True}, {"lr": 1e6}, {"lr": 0.01}]
    result = fastnn.sweep(build, configs, x, y, verbose=0, **FIT)
    entries = result.results
    assert entries[0]["error"] is None and entries[3]["error"] is None
    assert entries[1]["error"] == "build: RuntimeError: this config cannot be built"
    assert entries[1]["history"] is None
    assert "non-finite" in entries[2]["error"]
    assert np.isnan(entries[2]["val_loss"])
    assert result.best_index in (0, 3)


def test_every_config_failing_warns_and_has_no_best():
    x, y = data()
    with pytest.warns(RuntimeWarning, match="no configuration gave a finite val_loss"):
        result = fastnn.sweep(build, {"fail": [True, True]}, x, y, verbose=0, **FIT)
    assert result.best_index is None and result.best_model is None
    assert result.best_params is None


def test_to_pandas():
    pandas = pytest.importorskip("pandas")
    x, y = data()
    result = fastnn.sweep(build, {"lr": [0.01, 0.1], "fail": [False, True]}, x, y,
                          verbose=0, **FIT)
    frame = result.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 4
    assert {"param_lr", "param_fail", "loss", "val_loss", "val_accuracy", "fit_seconds",
            "error"} <= set(frame.columns)
    assert frame["error"].notna().tolist() == [False, True, False, True]
    assert "4 configs, 2 failed" in repr(result)


def test_import_fastnn_does_not_import_dask():
    code = ("import sys, fastnn; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('dask', 'distributed', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------- bad input
def not_a_model(lr):
    return "model"


def uncompiled(lr):
    return Sequential([Dense(3, input_dim=6)])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"params": {}}, ValueError, r"sweep: params is an empty grid"),
    ({"params": []}, ValueError, r"sweep: params is an empty list"),
    ({"params": {"lr": []}}, ValueError, r"sweep: params\['lr'\] is empty"),
    ({"params": {"lr": 0.1}}, TypeError, r"sweep: params\['lr'\] must be a list of values"),
    ({"params": {"lr": "0.1"}}, TypeError, r"sweep: params\['lr'\] must be a list"),
    ({"params": [{"lr": 0.1}, 3]}, TypeError, r"sweep: params\[1\] must be a dict"),
    ({"params": "lr"}, TypeError, r"sweep: params must be a dict of lists"),
    ({"params": {"learning_rate": [0.1]}}, ValueError,
     r"sweep: config 0 \{'learning_rate': 0.1\} does not fit build\(.*unexpected keyword"),
    ({"build": 3}, TypeError, r"sweep: build must be a function"),
    ({"build": not_a_model}, TypeError, r"sweep: build\(\*\*\{'lr': 0.1\}\) returned a str"),
    ({"build": uncompiled}, TypeError, r"returned a model that is not compiled"),
    ({"client": "tcp://localhost:8786"}, TypeError,
     r"sweep: client must be None \(in process\), a concurrent.futures.Executor or a "
     r"dask.distributed.Client, got builtins.str"),
    ({"epochs": 0}, ValueError, r"sweep: epochs must be a positive int"),
    ({"epochs": 2.0}, TypeError, r"sweep: epochs must be an int"),
    ({"batch_size": -1}, ValueError, r"sweep: batch_size must be a positive int"),
    ({"models_per_task": 0}, ValueError, r"sweep: models_per_task must be a positive int"),
    ({"seed": -1}, ValueError, r"sweep: seed must be a non-negative int"),
    ({"verbose": 2}, ValueError, r"sweep: verbose must be 0 or 1"),
    ({"validation_split": 1.5}, ValueError,
     r"sweep: validation_split must be in \[0, 1.0\), got 1.5"),
    ({"validation_split": 0.001}, ValueError, r"sweep: validation_split=0.001 leaves"),
    ({"cv": 1}, ValueError, r"sweep: cv must be an int >= 2"),
    ({"cv": 3, "validation_split": 0.2}, ValueError, r"sweep: cv=3 holds out each fold"),
    ({"validation_data": [1, 2, 3, 4], "validation_split": 0.0}, TypeError,
     r"sweep: validation_data must be a tuple"),
    ({"validation_data": data(10)}, ValueError,
     r"sweep: pass validation_data or validation_split, not both"),
    ({"metric": "val_auc"}, ValueError,
     r"sweep: metric 'val_auc' is not logged by config 0's model, which logs 'loss', "
     r"'accuracy', 'val_loss', 'val_accuracy'"),
    ({"metric": "val_loss", "validation_split": 0.0}, ValueError,
     r"val_\* quantities need validation_split, validation_data or cv"),
    ({"metric": 3}, TypeError, r"sweep: metric must be a str"),
    ({"mode": "best"}, ValueError, r"sweep: mode must be one of 'auto', 'min', 'max'"),
    ({"x": np.zeros((240, 5))}, ValueError,
     r"sweep: x has 5 features, but the model's first layer expects 6"),
    ({"y": np.zeros(100)}, ValueError, r"sweep: x and y have different numbers of samples"),
    ({"y": np.full(240, 7)}, ValueError, r"sweep: y holds labels in \[7, 7\]"),
])
def test_bad_input_is_refused_before_training(kwargs, error, match):
    x, y = data()
    arguments = {"build": build, "params": {"lr": [0.1]}, "x": x, "y": y, "epochs": 1,
                 "validation_split": 0.25, "verbose": 0}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        fastnn.sweep(**arguments)


def test_unpicklable_build_refused_for_a_process_pool():
    x, y = data()
    with ProcessPoolExecutor(1) as pool, pytest.raises(
            TypeError, match="sweep: build must be picklable to run on a ProcessPoolExecutor"):
        fastnn.sweep(lambda lr: build(lr), {"lr": [0.1]}, x, y, epochs=1, client=pool,
                     verbose=0)


# ---------------------------------------------------------------------- executors
def test_thread_pool_matches_in_process(reference):
    x, y = data()
    with ThreadPoolExecutor(2) as pool:
        result = fastnn.sweep(build, GRID, x, y, client=pool, verbose=0, models_per_task=2,
                              **FIT)
    assert_same(reference, result)


def test_process_pool_matches_in_process(reference):
    x, y = data()
    with ProcessPoolExecutor(2) as pool:
        result = fastnn.sweep(build, GRID, x, y, client=pool, verbose=0, **FIT)
    assert_same(reference, result)


# --------------------------------------------------------------------------- dask
@pytest.fixture(scope="module")
def threaded_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=4, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        yield cluster


@pytest.mark.parametrize("workers", [1, 4])
def test_dask_matches_in_process(reference, threaded_cluster, workers):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(threaded_cluster) as client:
        if workers == 1:
            threaded_cluster.scale(1)
            client.wait_for_workers(1)
            while len(client.scheduler_info()["workers"]) > 1:
                time.sleep(0.05)
        x, y = data()
        result = fastnn.sweep(build, GRID, x, y, client=client, verbose=0, **FIT)
        assert_same(reference, result)
        cv = fastnn.sweep(build, GRID[:2], x, y, epochs=2, cv=2, client=client, verbose=0)
        assert_same(fastnn.sweep(build, GRID[:2], x, y, epochs=2, cv=2, verbose=0), cv)
        # Every future released, the scattered data too. Releases reach the scheduler
        # asynchronously: give them a moment.
        deadline = time.monotonic() + 10
        while client.who_has() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.who_has()


def test_dask_task_uses_the_workers_share_of_cores(threaded_cluster):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(threaded_cluster) as client:
        threaded_cluster.scale(2)
        client.wait_for_workers(2)
        x, y = data()
        with pytest.warns(RuntimeWarning, match="no configuration gave a finite loss"):
            result = fastnn.sweep(build, {"threads_report": [True]}, x, y, epochs=1,
                                  client=client, verbose=0, metric="loss")
    cores = len(os.sched_getaffinity(0))
    expected = max(1, min(cores // 2, numba.config.NUMBA_NUM_THREADS))
    assert result.results[0]["error"] == f"build: RuntimeError: threads={expected}"


def test_dask_survives_a_killed_worker():
    """SIGKILL one of two worker processes while it trains: the same results."""
    distributed = pytest.importorskip("distributed")
    import dask

    x, y = data()
    configs = [dict(c, delay=0.5) for c in GRID[:6]]
    expected = fastnn.sweep(build, configs, x, y, verbose=0, **FIT)
    # A result finished on the worker just before the kill is fetched from its dead
    # address first: fail that connection in 2 s, not the default 30.
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_a_busy_worker():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items()
                        if any(str(k).startswith("fastnn-sweep") for k in keys)]
                if busy:
                    time.sleep(0.2)  # inside the task, not before it
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        result = fastnn.sweep(build, configs, x, y, client=client, verbose=0,
                              models_per_task=1, **FIT)
        killer.join()
    assert killed
    assert_same(expected, result)
