"""Divergence: a loss that becomes NaN or infinite stops the fit and rolls the model back
to the start of the failing epoch, with FloatingPointError, or quietly with
TerminateOnNaN; the rolled-back model trains on.
"""
import numpy as np
import pytest

from builders import TARGETS, X, make_model, state_of
from fastnn import optimizers
from fastnn.callbacks import LambdaCallback, LearningRateScheduler, TerminateOnNaN


def _diverging_run(terminate):
    """Two healthy epochs, then a learning rate no network survives."""
    model = make_model("mse", "declared", optimizer=optimizers.SGD(0.01, momentum=0.9))
    snapshots = {}

    def remember(epoch, logs=None):
        snapshots[epoch] = state_of(model)

    schedule = LearningRateScheduler(lambda epoch, lr: 0.01 if epoch < 2 else 1e30)
    hooks = [schedule, LambdaCallback(on_epoch_begin=remember)]
    if terminate:
        hooks.append(TerminateOnNaN())
    return model, snapshots, hooks


def test_divergence_raises_and_restores_the_start_of_the_failing_epoch():
    model, snapshots, hooks = _diverging_run(terminate=False)
    with pytest.raises(FloatingPointError,
                       match=r"^fit: the loss became non-finite in epoch 3 .*restored to the "
                             r"start of that epoch\. Try a lower learning rate"):
        model.fit(X, TARGETS["mse"], epochs=6, batch_size=4, verbose=0, callbacks=hooks)
    start = snapshots[2]
    assert model.params.tobytes() == start["params"].tobytes()
    assert model._state.tobytes() == start["state"].tobytes()
    assert model.optimizer.iterations == start["iterations"] == 2 * 5
    assert np.isfinite(model.params).all() and np.isfinite(model._state).all()
    assert model.epochs_completed == 2
    # The model is still usable: a sane learning rate trains on from there.
    model.optimizer.learning_rate = 0.01
    model.fit(X, TARGETS["mse"], epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(model.params).all()


def test_divergence_with_terminate_on_nan_stops_quietly(capsys):
    model, snapshots, hooks = _diverging_run(terminate=True)
    history = model.fit(X, TARGETS["mse"], epochs=6, batch_size=4, verbose=0, callbacks=hooks)
    assert history.epoch == [0, 1, 2]
    assert np.isfinite(history.history["loss"][:2]).all()
    assert np.isnan(history.history["loss"][2])
    assert model.stop_training
    start = snapshots[2]
    assert model.params.tobytes() == start["params"].tobytes()
    assert model._state.tobytes() == start["state"].tobytes()
    assert model.optimizer.iterations == start["iterations"]
    assert model.epochs_completed == 2  # the rolled-back epoch does not count
    assert "invalid loss" in capsys.readouterr().out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_divergence_in_the_first_epoch(dtype, optimizer):
    rate = 1e30 if dtype == "float32" else 1e300
    make = {"sgd": lambda: optimizers.SGD(rate), "adam": lambda: optimizers.Adam(rate),
            "rmsprop": lambda: optimizers.RMSprop(rate)}[optimizer]
    model = make_model("mse", "declared", dtype=dtype, optimizer=make())
    model.build()
    before = state_of(model)
    with pytest.raises(FloatingPointError, match=r"epoch 1 .*lower learning rate"):
        model.fit(X, 1e3 * TARGETS["mse"], epochs=3, batch_size=4, verbose=0)
    assert model.params.tobytes() == before["params"].tobytes()
    assert model._state.tobytes() == before["state"].tobytes()
    assert model.optimizer.iterations == 0 and model.epochs_completed == 0
