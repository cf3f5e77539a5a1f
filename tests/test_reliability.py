"""Reliability: a saved or backed-up run resumes bitwise.

(Input validation, divergence and saving are in test_validation.py, test_divergence.py
and test_saving.py.)
"""
import numpy as np
import pytest

import fastnn
from builders import FEATURES, LABELS, X, assert_same_model, assert_same_state, state_of
from fastnn import Dense, Sequential, optimizers, regularizers
from fastnn import schedules
from fastnn.callbacks import (BackupAndRestore, LambdaCallback, LearningRateScheduler,
                              ModelCheckpoint)


# ------------------------------------------------------------ bitwise resume
def _resumable(make_optimizer, dtype, seed=11):
    model = Sequential([Dense(6, activation="relu", input_dim=FEATURES),
                        Dense(5, activation="tanh", kernel_regularizer=regularizers.L2(1e-3)),
                        Dense(3, activation="softmax")], dtype=dtype, seed=seed)
    model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


RESUME_OPTIMIZERS = {
    "adam-exponential-decay": lambda: optimizers.Adam(schedules.ExponentialDecay(0.02, 3, 0.8)),
    "sgd-nesterov-piecewise": lambda: optimizers.SGD(
        schedules.PiecewiseConstantDecay([5, 12], [0.1, 0.05, 0.01]), momentum=0.9,
        nesterov=True, weight_decay=1e-3),
    "rmsprop-momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5),
}
FIT = dict(batch_size=6, verbose=0, validation_split=0.25, shuffle=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(RESUME_OPTIMIZERS))
def test_a_checkpoint_resumes_bitwise(tmp_path, name, dtype):
    make_optimizer = RESUME_OPTIMIZERS[name]
    whole = _resumable(make_optimizer, dtype)
    whole_history = whole.fit(X, LABELS, epochs=6, **FIT).history

    first = _resumable(make_optimizer, dtype)
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz", monitor="loss")
    first.fit(X, LABELS, epochs=6, callbacks=[checkpoint], **FIT)
    resumed = fastnn.load_model(tmp_path / "ckpt-03.npz")
    assert resumed.epochs_completed == 3
    history = resumed.fit(X, LABELS, epochs=6, initial_epoch=resumed.epochs_completed,
                          **FIT).history
    assert_same_model(resumed, whole)
    assert history["loss"] == whole_history["loss"][3:]
    assert history["val_loss"] == whole_history["val_loss"][3:]


def test_backup_and_restore_resumes_a_crashed_fit_bitwise(tmp_path):
    make_optimizer = RESUME_OPTIMIZERS["adam-exponential-decay"]
    whole = _resumable(make_optimizer, "float32")
    whole_history = whole.fit(X, LABELS, epochs=7, **FIT).history

    class Crash(Exception):
        pass

    def crash(epoch, logs=None):
        if epoch == 3:
            raise Crash

    crashed = _resumable(make_optimizer, "float32")
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(Crash):
        crashed.fit(X, LABELS, epochs=7, callbacks=[backup, LambdaCallback(on_epoch_end=crash)],
                    **FIT)
    assert (tmp_path / "backup" / "backup.npz").exists()

    fresh = _resumable(make_optimizer, "float32", seed=999)  # a new process's model
    history = fresh.fit(X, LABELS, epochs=7, callbacks=[BackupAndRestore(tmp_path / "backup")],
                        **FIT)
    assert history.epoch == [4, 5, 6]
    assert history.history["loss"] == whole_history["loss"][4:]
    assert_same_model(fresh, whole)
    assert not (tmp_path / "backup" / "backup.npz").exists()  # deleted after success


def test_backup_and_restore_keeps_a_learning_rate_changed_by_a_callback(tmp_path):
    model = _resumable(lambda: optimizers.SGD(0.1), "float32")
    halve = LearningRateScheduler(lambda epoch, lr: lr / 2)
    keep = BackupAndRestore(tmp_path, delete_checkpoint=False)
    model.fit(X, LABELS, epochs=3, callbacks=[halve, keep], **FIT)
    assert model.optimizer.learning_rate == 0.1 / 8
    fresh = _resumable(lambda: optimizers.SGD(0.1), "float32")
    fresh.fit(X, LABELS, epochs=3, callbacks=[BackupAndRestore(tmp_path)], **FIT)
    assert fresh.optimizer.learning_rate == 0.1 / 8
    assert fresh.params.tobytes() == model.params.tobytes()


def test_backup_of_a_different_model_is_refused(tmp_path):
    model = _resumable(lambda: optimizers.SGD(0.1), "float32")
    model.fit(X, LABELS, epochs=1, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)],
              **FIT)
    other = Sequential([Dense(10, activation="relu", input_dim=FEATURES),
                        Dense(3, activation="softmax")], seed=0)
    other.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    other.build()
    before = state_of(other)
    assert other.params.size == model.params.size  # same count, different architecture
    with pytest.raises(ValueError, match=r"^restore: .*backup\.npz.* holds a different model"):
        other.fit(X, LABELS, epochs=2, callbacks=[BackupAndRestore(tmp_path)], **FIT)
    assert_same_state(other, before)


def test_model_checkpoint_save_best_only(tmp_path):
    model = _resumable(lambda: optimizers.SGD(0.05), "float32")
    path = tmp_path / "best.npz"
    best = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    history = model.fit(X, LABELS, epochs=5, callbacks=[best], **FIT).history
    loaded = fastnn.load_model(path)
    best_epoch = int(np.argmin(history["val_loss"]))
    assert loaded.epochs_completed == best_epoch + 1
    np.testing.assert_allclose(loaded.evaluate(X[15:], LABELS[15:])["loss"],
                               min(history["val_loss"]), rtol=1e-5)
