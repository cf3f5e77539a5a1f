"""Callback arguments checked at construction; Keras's hook signatures and
missing-monitor warnings; EarlyStopping's baseline with restore_best_weights."""
import os
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential, callbacks
from fastnn.callbacks import (BackupAndRestore, CSVLogger, EarlyStopping, LambdaCallback,
                              LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return rng.standard_normal((n, 4)) + np.eye(3, 4)[labels] * 2, labels


def _model(seed=0):
    model = Sequential([Dense(3, activation="softmax", input_dim=4)], seed=seed)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# ------------------------------------------------------- checked at construction
BAD_ARGUMENTS = [
    (lambda: EarlyStopping(patience=2.7), TypeError,
     r"^EarlyStopping: patience must be an int, got float 2\.7\.$"),
    (lambda: EarlyStopping(patience="abc"), TypeError,
     r"^EarlyStopping: patience must be an int, got str 'abc'\.$"),
    (lambda: EarlyStopping(patience=-1), ValueError,
     r"^EarlyStopping: patience must be a non-negative int, got -1\.$"),
    (lambda: EarlyStopping(restore_best_weights="no"), TypeError,
     r"^EarlyStopping: restore_best_weights must be True or False, got str 'no'\.$"),
    (lambda: EarlyStopping(baseline="0.5"), TypeError,
     r"^EarlyStopping: baseline must be a number, got str '0\.5'\.$"),
    (lambda: EarlyStopping(min_delta=float("nan")), ValueError,
     r"^EarlyStopping: min_delta must be finite, got nan\.$"),
    (lambda: EarlyStopping(start_from_epoch=1.5), TypeError,
     r"^EarlyStopping: start_from_epoch must be an int, got float 1\.5\.$"),
    (lambda: EarlyStopping(verbose="yes"), TypeError,
     r"^EarlyStopping: verbose must be an int, got str 'yes'\.$"),
    (lambda: ReduceLROnPlateau(factor="half"), TypeError,
     r"^ReduceLROnPlateau: factor must be a number, got str 'half'\.$"),
    (lambda: ReduceLROnPlateau(patience=None), TypeError,
     r"^ReduceLROnPlateau: patience must be an int, got NoneType None\.$"),
    (lambda: ReduceLROnPlateau(cooldown=0.5), TypeError,
     r"^ReduceLROnPlateau: cooldown must be an int, got float 0\.5\.$"),
    (lambda: ReduceLROnPlateau(min_lr=-1.0), ValueError,
     r"^ReduceLROnPlateau: min_lr must be a finite number >= 0, got -1\.0\.$"),
    (lambda: ModelCheckpoint("m.npz", save_best_only="False"), TypeError,
     r"^ModelCheckpoint: save_best_only must be True or False, got str 'False'\.$"),
    (lambda: ModelCheckpoint(None), TypeError,
     r"^ModelCheckpoint: filepath must be a str or path-like, got NoneType None\.$"),
    (lambda: ModelCheckpoint(""), ValueError,
     r"^ModelCheckpoint: filepath must not be empty\.$"),
    (lambda: ModelCheckpoint("run{1}/ckpt.npz"), ValueError,
     r"^ModelCheckpoint: filepath 'run\{1\}/ckpt\.npz' has the positional field \{1\}; "
     r"only named fields"),
    (lambda: ModelCheckpoint("ckpt-{}.npz"), ValueError,
     r"^ModelCheckpoint: filepath 'ckpt-\{\}\.npz' has the positional field \{\}"),
    (lambda: ModelCheckpoint("ckpt-{epoch.npz"), ValueError,
     r"^ModelCheckpoint: filepath 'ckpt-\{epoch\.npz' is not a valid file name template"),
    (lambda: ModelCheckpoint("ckpt-{loss:02d}.npz", monitor="loss"), ValueError,
     r"^ModelCheckpoint: filepath 'ckpt-\{loss:02d\}\.npz' cannot be filled: ValueError"),
    (lambda: LearningRateScheduler(None), TypeError,
     r"^LearningRateScheduler: schedule must be a function schedule\(epoch, lr\), got "
     r"NoneType None\.$"),
    (lambda: LearningRateScheduler(0.1), TypeError,
     r"^LearningRateScheduler: schedule must be a function"),
    (lambda: LambdaCallback(on_epoch_end=5), TypeError,
     r"^LambdaCallback: on_epoch_end must be a function or None, got int 5\.$"),
    (lambda: LambdaCallback(on_train_end=lambda a, b, c: None), TypeError,
     r"^LambdaCallback: on_train_end must accept \(logs\), as Keras calls it; got a function "
     r"with signature \(a, b, c\)\.$"),
    (lambda: BackupAndRestore(None), TypeError,
     r"^BackupAndRestore: backup_dir must be a str or path-like, got NoneType None\.$"),
    (lambda: BackupAndRestore("b", delete_checkpoint="yes"), TypeError,
     r"^BackupAndRestore: delete_checkpoint must be True or False, got str 'yes'\.$"),
    (lambda: CSVLogger(None), TypeError,
     r"^CSVLogger: filename must be a str or path-like, got NoneType None\.$"),
    (lambda: CSVLogger("log.csv", separator=";;"), TypeError,
     r"^CSVLogger: separator must be a one-character string, got str ';;'\.$"),
    (lambda: CSVLogger("log.csv", append="no"), TypeError,
     r"^CSVLogger: append must be True or False, got str 'no'\.$"),
]


@pytest.mark.parametrize("make, error, pattern", BAD_ARGUMENTS)
def test_bad_callback_arguments_are_refused_at_construction(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_csv_logger_into_a_missing_directory_is_refused_at_construction(tmp_path):
    missing = tmp_path / "nowhere" / "log.csv"
    with pytest.raises(ValueError, match=r"^CSVLogger: filename .*log\.csv' is in a directory "
                                         r"that does not exist .*nowhere'\); create it first\."):
        CSVLogger(missing)
    with pytest.raises(ValueError, match=r"^CSVLogger: filename .* is a directory"):
        CSVLogger(tmp_path)


def test_valid_arguments_still_construct(tmp_path):
    EarlyStopping(patience=np.int64(3), baseline=np.float32(0.5), restore_best_weights=np.True_,
                  verbose=True)
    ReduceLROnPlateau(factor=0.5, patience=0, cooldown=2, min_lr=1e-6)
    ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}-{val_loss:.3f}-{{literal}}.npz")
    CSVLogger(tmp_path / "log.csv", separator=";", append=True)
    BackupAndRestore(tmp_path / "backup")


def test_model_checkpoint_creates_a_missing_directory(tmp_path):
    x, y = _data()
    target = tmp_path / "new" / "epoch-{epoch}" / "ckpt.npz"
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(target, monitor="loss")])
    for epoch in (1, 2):
        saved = tmp_path / "new" / f"epoch-{epoch}" / "ckpt.npz"
        assert saved.is_file()
    fastnn.load_model(saved)


def test_model_checkpoint_names_a_field_that_is_not_logged(tmp_path):
    x, y = _data()
    checkpoint = ModelCheckpoint(tmp_path / "ckpt-{val_loss:.3f}.npz", monitor="loss")
    with pytest.raises(KeyError, match=r"ModelCheckpoint: filepath .* names 'val_loss', which "
                                       r"epoch 1 did not log; available: \[.*'loss'.*\]"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])


# --------------------------------------------------- Keras's LambdaCallback hooks
def test_lambda_callback_hooks_take_keras_signatures():
    x, y = _data()
    events = []
    hooks = LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin", dict(logs))),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch, dict(logs))),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: events.append(("train_end", sorted(logs))))
    history = _model().fit(x, y, epochs=2, verbose=0, callbacks=[hooks])
    keys = sorted(history.history)
    assert "loss" in keys
    assert events == [("train_begin", {}), ("epoch_begin", 0, {}), ("epoch_end", 0, keys),
                      ("epoch_begin", 1, {}), ("epoch_end", 1, keys), ("train_end", keys)]
    assert len(history.history["loss"]) == 2


def test_lambda_callback_on_train_end_gets_the_last_epochs_logs():
    x, y = _data()
    seen = {}
    hooks = LambdaCallback(on_train_end=lambda logs: seen.update(logs))
    history = _model().fit(x, y, epochs=3, verbose=0, callbacks=[hooks])
    assert seen["loss"] == history.history["loss"][-1]


def test_lambda_callback_keeps_shorter_signatures_working():
    x, y = _data()
    events = []
    hooks = LambdaCallback(on_train_begin=lambda: events.append("begin"),
                           on_epoch_begin=lambda epoch: events.append(epoch),
                           on_train_end=lambda logs=None: events.append("end"))
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[hooks])
    assert events == ["begin", 0, 1, "end"]


# ------------------------------------------------------ a monitor never logged
def _fit_warning(callback, epochs=3):
    x, y = _data()
    model = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=[callback])
    return history, [w for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("make", [
    lambda tmp: EarlyStopping(),
    lambda tmp: EarlyStopping(monitor="val_los", patience=0, restore_best_weights=True),
    lambda tmp: ReduceLROnPlateau(patience=0),
    lambda tmp: ModelCheckpoint(tmp / "best.npz", save_best_only=True),
], ids=["early-stopping", "early-stopping-typo", "reduce-lr", "checkpoint-best-only"])
def test_a_monitor_never_logged_warns_and_training_continues(tmp_path, make):
    callback = make(tmp_path)
    history, caught = _fit_warning(callback)
    assert len(history.history["loss"]) == 3  # every epoch trained, nothing raised
    assert len(caught) == 3
    name = type(callback).__name__
    message = str(caught[0].message)
    assert message.startswith(f"{name}: monitor {callback.monitor!r} is not logged, so this "
                              "epoch is skipped; available: [")
    for key in history.history:
        assert repr(key) in message
    assert caught[0].filename == __file__  # points at the fit call, not fastnn's internals
    assert not (tmp_path / "best.npz").exists()


def test_reduce_lr_on_plateau_leaves_the_rate_alone_without_its_monitor():
    reducer = ReduceLROnPlateau(monitor="val_loss", patience=0)
    x, y = _data()
    model = _model()
    with pytest.warns(RuntimeWarning, match="ReduceLROnPlateau: monitor 'val_loss'"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[reducer])
    assert model.optimizer.learning_rate == 0.01


# ------------------------------------------- EarlyStopping baseline and restore
class _Scripted(callbacks.Callback):
    """Overwrites ``val_loss`` with a scripted series and records each epoch's weights;
    listed before EarlyStopping, which then sees the scripted values."""

    def __init__(self, values):
        super().__init__()
        self.values, self.weights = values, []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def _run_scripted(values, **kwargs):
    x, y = _data()
    model = _model()
    script = _Scripted(values)
    stopper = EarlyStopping(monitor="val_loss", restore_best_weights=True, **kwargs)
    history = model.fit(x, y, epochs=len(values), verbose=0, callbacks=[script, stopper])
    return model, script, stopper, history


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def test_baseline_never_beaten_still_restores_the_best_epoch():
    # Keras 3: the best epoch is tracked even below the baseline; patience runs from
    # the start since no epoch beats 0.5, so training stops at epoch index 4.
    model, script, stopper, history = _run_scripted([0.9, 0.8, 0.7, 0.71, 0.72, 0.73],
                                                    patience=5, baseline=0.5)
    assert stopper.stopped_epoch == 4 and len(history.history["loss"]) == 5
    assert stopper.best_epoch == 2 and stopper.best == 0.7
    assert _same_weights(model.get_weights(), script.weights[2])
    assert not _same_weights(model.get_weights(), script.weights[4])


def test_beating_the_baseline_restarts_patience():
    model, script, stopper, history = _run_scripted([0.9, 0.4, 0.3, 0.35, 0.36, 0.37, 0.38],
                                                    patience=2, baseline=0.5)
    assert stopper.stopped_epoch == 4 and stopper.best_epoch == 2
    assert _same_weights(model.get_weights(), script.weights[2])


def test_without_restore_the_last_weights_stay():
    x, y = _data()
    model = _model()
    script = _Scripted([0.9, 0.8, 0.7, 0.71, 0.72, 0.73])
    stopper = EarlyStopping(monitor="val_loss", patience=5, baseline=0.5)
    model.fit(x, y, epochs=6, verbose=0, callbacks=[script, stopper])
    assert _same_weights(model.get_weights(), script.weights[-1])


def test_the_first_watched_epoch_is_kept_even_if_its_value_is_nan():
    model, script, stopper, _ = _run_scripted([float("nan")] * 3, patience=1)
    assert stopper.best_epoch == 0
    assert _same_weights(model.get_weights(), script.weights[0])


def test_checks_leave_the_callbacks_module_importable_without_saving_side_effects(tmp_path):
    # Constructing callbacks touches no file system state.
    ModelCheckpoint(tmp_path / "a" / "b" / "ckpt.npz")
    BackupAndRestore(tmp_path / "backup")
    assert os.listdir(tmp_path) == []
