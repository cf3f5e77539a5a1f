"""Runs of epochs in one compiled call (small datasets, nothing to do between epochs)
give the same bits, logs and errors as training epoch by epoch."""
import numpy as np
import pytest

from fastnn import Dense, Sequential
from fastnn.callbacks import Callback, TerminateOnNaN
from fastnn.optimizers import Adam, SGD
from fastnn.schedules import ExponentialDecay


class EpochByEpoch(Callback):
    """Any callback but History and TerminateOnNaN makes fit go epoch by epoch."""


def data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    return x, (x[:, :3].argmax(axis=1)).astype(np.int64)


def model(dtype="float64", optimizer=None):
    m = Sequential([Dense(8, activation="tanh", input_dim=5), Dense(3, activation="softmax")],
                   dtype=dtype, seed=2)
    m.compile(optimizer=optimizer or Adam(ExponentialDecay(0.01, 5, 0.9)),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size, shuffle", [(16, True), (7, False), (200, True)])
def test_the_same_bits_and_logs_as_epoch_by_epoch(dtype, batch_size, shuffle):
    x, y = data()
    at_once, one_by_one = model(dtype), model(dtype)
    a = at_once.fit(x, y, batch_size=batch_size, epochs=25, shuffle=shuffle, verbose=0)
    b = one_by_one.fit(x, y, batch_size=batch_size, epochs=25, shuffle=shuffle, verbose=0,
                       callbacks=[EpochByEpoch()])
    np.testing.assert_array_equal(at_once.params, one_by_one.params)
    np.testing.assert_array_equal(at_once._state, one_by_one._state)
    assert a.history == b.history and a.epoch == b.epoch == list(range(25))
    assert at_once.optimizer.iterations == one_by_one.optimizer.iterations
    assert at_once.epochs_completed == 25
    # The shuffles drew the same numbers: the next ones agree too.
    assert at_once._rng.random() == one_by_one._rng.random()


def diverging():
    """Diverges in epoch 19: its learning rate grows 1.2x every 7 steps."""
    m = Sequential([Dense(4, activation="linear", input_dim=5), Dense(1)], seed=0,
                   dtype="float64")
    m.compile(optimizer=SGD(ExponentialDecay(0.001, 7, 1.2)), loss="mse")
    return m


@pytest.mark.parametrize("callbacks", [[], [EpochByEpoch()]])
def test_divergence_rolls_back_to_the_failing_epochs_start(callbacks):
    x, _ = data()
    y = 50 * x[:, :1]
    m = diverging()
    with pytest.raises(FloatingPointError, match=r"non-finite in epoch (\d+)") as error:
        m.fit(x, y, batch_size=10, epochs=500, verbose=0, callbacks=list(callbacks))
    failed = int(error.value.args[0].split("epoch ")[1].split(" ")[0])
    assert 1 < failed < 500
    # The same as a model trained just up to that epoch, shuffles included.
    reference = diverging()
    reference.fit(x, y, batch_size=10, epochs=failed - 1, verbose=0,
                  callbacks=[EpochByEpoch()])
    np.testing.assert_array_equal(m.params, reference.params)
    assert m.optimizer.iterations == reference.optimizer.iterations
    assert m.epochs_completed == failed - 1
    reference._rng.permutation(len(x))  # the failing epoch's shuffle
    assert m._rng.random() == reference._rng.random()


def test_terminate_on_nan_stops_quietly_with_the_epoch_logged():
    x, _ = data()
    y = 50 * x[:, :1]
    m = diverging()
    history = m.fit(x, y, batch_size=10, epochs=500, verbose=0, callbacks=[TerminateOnNaN()])
    losses = history.history["loss"]
    assert np.isnan(losses[-1]) and np.isfinite(losses[:-1]).all()
    assert m.epochs_completed == len(losses) - 1 and np.isfinite(m.params).all()


def test_verbose_2_prints_each_epoch_from_the_recorded_values(capsys):
    x, y = data()
    history = model().fit(x, y, epochs=3, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert f"loss: {history.history['loss'][2]:.4f}" in lines[2]


def test_initial_epoch_and_fits_that_continue():
    x, y = data()
    a, b = model(), model()
    a.fit(x, y, epochs=4, verbose=0)
    a.fit(x, y, epochs=9, initial_epoch=4, verbose=0)
    b.fit(x, y, epochs=9, verbose=0, callbacks=[EpochByEpoch()])
    np.testing.assert_array_equal(a.params, b.params)
    assert a.epochs_completed == 9


def test_a_recompile_with_a_third_optimizer_slot_resizes_the_snapshot():
    """The epoch-start snapshot must follow the optimizer state's shape: an amsgrad
    Adam after SGD has three slots, not two, and a rollback restores all three."""
    x, _ = data()
    y = 50 * x[:, :1]
    m = diverging()
    m.fit(x, y, batch_size=10, epochs=2, verbose=0)
    m.compile(optimizer=Adam(1e200, amsgrad=True), loss="mse")
    start_params, start_state = m.params.copy(), m._state.copy()
    assert start_state.shape[0] == 3
    with pytest.raises(FloatingPointError):
        m.fit(x, y, batch_size=10, epochs=3, verbose=0)
    np.testing.assert_array_equal(m.params, start_params)
    np.testing.assert_array_equal(m._state, start_state)


def test_what_one_fit_keeps_for_the_next_follows_compile_and_set_weights():
    """fit keeps per-shape state for the next call (buffers, codes, dropout arrays,
    orders): a recompile with other metrics or loss options, new weights, or a new
    batch size between calls of the same shapes must take effect as in a fresh model."""
    x, y = data()
    kept, fresh = model(), model()
    kept.fit(x, y, batch_size=7, epochs=2, shuffle=False, verbose=0)
    weights = [w * 0.5 for w in kept.get_weights()]
    for m in (kept, fresh):
        m.compile(optimizer=SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["mse"], weighted_metrics=["accuracy"])
        m.set_weights(weights)
    a = kept.fit(x, y, batch_size=7, epochs=3, shuffle=False, verbose=0)
    b = fresh.fit(x, y, batch_size=7, epochs=3, shuffle=False, verbose=0)
    assert a.history == b.history and set(a.history) == {"loss", "mse", "accuracy"}
    np.testing.assert_array_equal(kept.params, fresh.params)
    a = kept.fit(x, y, batch_size=70, epochs=1, shuffle=False, verbose=0)
    b = fresh.fit(x, y, batch_size=70, epochs=1, shuffle=False, verbose=0)
    assert a.history == b.history
    np.testing.assert_array_equal(kept.params, fresh.params)
