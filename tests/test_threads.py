"""The thread team: sized by Numba's threads, bitwise stable, safe under fork and Ctrl-C.

Each scenario that could hang runs in a child process with a timeout, so a
regression fails the test instead of stopping the suite.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn import Dense, Sequential, initializers
from fastnn.optimizers import SGD

HANG_SECONDS = 240  # generous: the child may compile kernels cold


def run_child(code, threads=None):
    env = dict(os.environ)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=HANG_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_any_team_size_up_to_the_parts_gives_the_same_bits():
    """NUMBA_NUM_THREADS=4 on these 2 cores: 4 parts per batch, run by 1..4 threads."""
    out = run_child("""
        import numba, numpy as np
        from fastnn import Dense, Sequential, initializers
        from fastnn.engines import part_count
        from fastnn.optimizers import SGD
        rng = np.random.default_rng(0)
        x = rng.standard_normal((700, 20)).astype("float32")
        y = rng.integers(0, 5, 700)
        assert part_count(32) == 4 and part_count(16) == 2, part_count(32)
        for batch_size in (32, 256):  # first layer split by units; by rows
            results = []
            for threads in (1, 2, 3, 4):
                numba.set_num_threads(threads)
                model = Sequential([Dense(16, activation="relu", input_dim=20),
                                    Dense(5, activation="softmax")], seed=1)
                model.compile(optimizer=SGD(0.05, momentum=0.9),
                              loss="sparse_categorical_crossentropy")
                model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
                results.append(model.params.copy())
            for other in results[1:]:
                np.testing.assert_array_equal(results[0], other)
        print("same bits")
    """, threads=4)
    assert "same bits" in out


def test_a_forked_child_trains_and_predicts():
    """The parent trains with helper threads and checks a large input on two threads;
    forked children (multiprocessing's fork start method) must still fit and predict."""
    out = run_child("""
        import multiprocessing, numpy as np
        from fastnn import Dense, Sequential, initializers
        rng = np.random.default_rng(0)
        x = rng.standard_normal((6000, 784)).astype("float32")  # 2**22+ values: two threads
        y = rng.integers(0, 10, 6000)

        def model():
            m = Sequential([Dense(32, activation="relu", input_dim=784),
                            Dense(10, activation="softmax")], seed=0)
            m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            return m

        parent = model()
        parent.fit(x, y, epochs=1, batch_size=32, verbose=0)

        def child(seed):
            m = model()
            m.fit(x, y, epochs=1, batch_size=32, verbose=0)
            return float(m.predict(x[:5]).sum()) + float(parent.predict(x).shape[0])

        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(pool.map(child, [0, 1], chunksize=1))
    """)
    assert "[" in out


@pytest.mark.parametrize("path", ["epoch by epoch", "epochs at once"])
@pytest.mark.parametrize("interrupt_at", ["inside submit", "after the hand-off"])
def test_ctrl_c_while_handing_out_work_leaves_no_thread_waiting(interrupt_at, path):
    """An interrupt while the helpers are handed their share: fit raises, rolls back to
    the start of the interrupted call's first epoch, no thread is left at the barrier,
    and the next fit runs. Epoch by epoch (a callback) the third hand-off of the
    epoch is interrupted; epochs at once, the second call (the first trained one)."""
    out = run_child(f"""
        from concurrent.futures import wait
        import numba, numpy as np
        from fastnn import Dense, Sequential, _threads, _scheduler
        from fastnn.callbacks import Callback
        from fastnn.optimizers import SGD
        assert _threads.team_size() >= 2
        # Always the team of two: on a busy machine fit may time one thread faster.
        _scheduler.TeamRunner.pick = lambda self: 2
        rng = np.random.default_rng(0)
        x = rng.standard_normal((4000, 30))
        y = rng.integers(0, 4, 4000)
        at_once = {path!r} == "epochs at once"
        callbacks = [] if at_once else [Callback()]
        trigger = 2 if at_once else 3

        def model():
            m = Sequential([Dense(16, activation="relu", input_dim=30),
                            Dense(4, activation="softmax")], seed=0)
            m.compile(optimizer=SGD(0.05, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
            m.fit(x, y, epochs=1, verbose=0, callbacks=callbacks)
            return m

        trained, reference = model(), model()
        pool, calls = _threads.pool(), []

        class Interrupting:
            def submit(self, *args):
                future = pool.submit(*args)
                calls.append(future)
                if len(calls) == trigger and {interrupt_at!r} == "inside submit":
                    raise KeyboardInterrupt  # a signal landing inside the hand-off
                return future

        real_event = _scheduler.threading.Event

        class InterruptAfterGo(real_event):
            def set(self):
                super().set()
                if len(calls) == trigger and {interrupt_at!r} == "after the hand-off":
                    raise KeyboardInterrupt  # helpers released, this thread not yet in

        _threads.pool = lambda: Interrupting()
        _scheduler.threading.Event = InterruptAfterGo
        try:
            trained.fit(x, y, epochs=5, verbose=0, callbacks=callbacks)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("no KeyboardInterrupt")
        _threads.pool = lambda: pool
        _scheduler.threading.Event = real_event
        # Every helper handed out returns (one called off may take a moment to).
        assert len(calls) == trigger, len(calls)
        assert not wait(calls, timeout=30).not_done
        # Epochs of the interrupted fit trained before the interrupted call (125 steps
        # an epoch; the first 125 are model()'s own epoch).
        epochs = trained.optimizer.iterations // 125 - 1
        assert epochs == (1 if at_once else 0), epochs
        if epochs:
            reference.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks)
        np.testing.assert_array_equal(trained.params, reference.params)
        np.testing.assert_array_equal(trained._state, reference._state)
        assert trained.optimizer.iterations == reference.optimizer.iterations
        assert trained._rng.random() == reference._rng.random()
        trained.fit(x, y, epochs=1, verbose=0)  # the team is free
        print("recovered")
    """)
    assert "recovered" in out


def test_rebuilding_a_trained_model_starts_it_over():
    rng = np.random.default_rng(0)
    model = Sequential([Dense(8, activation="relu"), Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer=SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.fit(rng.standard_normal((300, 8)), rng.integers(0, 2, 300), epochs=1, verbose=0)
    model.build(input_dim=30)
    assert model.optimizer.iterations == 0 and model.epochs_completed == 0
    assert not model._state.any()
    model.fit(rng.standard_normal((300, 30)), rng.integers(0, 2, 300), epochs=1, verbose=0)
    assert model.input_dim == 30 and model.optimizer.iterations == 10


def test_a_failing_initializer_leaves_the_model_unbuilt():
    class Broken(initializers.Initializer):
        def __call__(self, shape, rng):
            return np.zeros((1, 1))

    model = Sequential([Dense(4, input_dim=3, kernel_initializer=Broken())])
    with pytest.raises(ValueError, match=r"layer 0's kernel_initializer Broken returned shape "
                                         r"\(1, 1\), expected \(3, 4\)"):
        model.build()
    assert not model.built


def test_save_from_another_thread_while_training_is_refused(tmp_path):
    import threading

    from fastnn.callbacks import Callback, ModelCheckpoint

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2000, 8)), rng.integers(0, 2, 2000)
    model = Sequential([Dense(4, activation="relu", input_dim=8),
                        Dense(2, activation="softmax")], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    inside, release = threading.Event(), threading.Event()

    class Hold(Callback):
        def on_epoch_end(self, epoch, logs=None):
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=model.fit, args=(x, y), kwargs=dict(
        epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m.npz")), Hold()]))
    worker.start()
    try:
        assert inside.wait(60)
        with pytest.raises(RuntimeError, match="save: the model is training in another thread"):
            model.save(tmp_path / "other.npz")
    finally:
        release.set()
        worker.join(60)
    assert (tmp_path / "m.npz").exists()  # the fit's own checkpoint was written
    model.save(tmp_path / "other.npz")  # fit returned: allowed


def test_one_optimizer_instance_serves_one_model():
    optimizer = SGD(0.1)
    first = Sequential([Dense(2, input_dim=3)])
    first.compile(optimizer=optimizer, loss="mse")
    first.compile(optimizer=optimizer, loss="mse")  # the same model again: fine
    with pytest.raises(ValueError, match="compile: this optimizer instance is already "
                                         "compiled into another model"):
        Sequential([Dense(2, input_dim=3)]).compile(optimizer=optimizer, loss="mse")
    del first
    import gc
    gc.collect()
    Sequential([Dense(2, input_dim=3)]).compile(optimizer=optimizer, loss="mse")


def test_huge_batch_sizes_and_overflowing_class_weights():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 3)), rng.integers(0, 2, 50)
    model = Sequential([Dense(2, activation="softmax", input_dim=3)], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(ValueError, match="class_weight gives sample weights too large for "
                                         "float32"):
        model.fit(x, y, class_weight={0: 1.0, 1: 1e39}, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, batch_size=2 ** 63, verbose=0)
    assert model.optimizer.iterations == 1


def test_fit_from_its_own_callback_is_refused():
    """A nested fit of the same model would leave model.history the inner one."""
    from fastnn.callbacks import Callback

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 3)), rng.integers(0, 2, 64)
    model = Sequential([Dense(2, activation="softmax", input_dim=3)], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    errors = []

    class Nested(Callback):
        def on_epoch_end(self, epoch, logs=None):
            try:
                self.model.fit(x, y, verbose=0)
            except RuntimeError as error:
                errors.append(str(error))

    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[Nested()])
    assert len(errors) == 2 and "fit: the model is already training" in errors[0]
    assert model.history is history and len(history.history["loss"]) == 2


def test_threads_do_not_grow_with_batch_sizes_or_models():
    import threading

    from fastnn import _threads

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 4)), rng.integers(0, 2, 300)
    before = threading.active_count()
    for batch_size in range(1, 40, 3):
        model = Sequential([Dense(3, activation="relu", input_dim=4),
                            Dense(2, activation="softmax")], seed=0)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=batch_size, verbose=0)
    # One shared helper pool per process, at most one thread per extra core.
    assert threading.active_count() <= max(before, 1) + _threads.max_threads() - 1
