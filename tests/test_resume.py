"""Resuming a run: a ModelCheckpoint file or a BackupAndRestore backup continues the run
bitwise identical to one that was never interrupted, whether the run stopped on an
exception or its process was killed with SIGKILL; a backup of another model is refused
before anything changes, and a process killed while saving never leaves a damaged model
file behind.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastnn
from builders import (FEATURES, LABELS, TARGETS, X, assert_same_model, assert_same_state,
                      state_of)
from fastnn import Dense, Sequential, optimizers, regularizers, schedules
from fastnn.callbacks import (BackupAndRestore, LambdaCallback, LearningRateScheduler,
                              ModelCheckpoint)

needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


# ------------------------------------------------------------ in one process
def _resumable(make_optimizer, dtype, seed=11):
    model = Sequential([Dense(6, activation="relu", input_dim=FEATURES),
                        Dense(5, activation="tanh", kernel_regularizer=regularizers.L2(1e-3)),
                        Dense(3, activation="softmax")], dtype=dtype, seed=seed)
    model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _two_layer(optimizer="sgd", activation="softmax", loss="sparse_categorical_crossentropy",
               hidden=5):
    """A 4-5-3 network (4-hidden-3), seed 0."""
    model = Sequential([Dense(hidden, activation="relu", input_dim=FEATURES),
                        Dense(3, activation=activation)], seed=0)
    model.compile(optimizer=optimizer, loss=loss)
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


def test_a_backup_of_the_same_model_still_resumes(tmp_path):
    """Of a finished run: nothing is left to train, the fresh model adopts the state."""
    model = _two_layer(optimizer="adam")
    model.fit(X, LABELS, epochs=2, verbose=0,
              callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    fresh = _two_layer(optimizer="adam")
    fresh.fit(X, LABELS, epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert fresh.epochs_completed == 2
    assert_same_model(fresh, model)


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


DIFFERENT_MODELS = [  # (id, the model that wrote the backup, another one, its loss, message)
    ("architecture", lambda: _resumable(lambda: optimizers.SGD(0.1), "float32"),
     lambda: _two_layer(hidden=10), "sparse_categorical_crossentropy",  # 83 weights each
     r"input_dim and layers \(units, use_bias, activation\) 4, \[\(6, True, 'relu'\), "
     r"\(5, True, 'tanh'\), \(3, True, 'softmax'\)\] in the file; 4, \[\(10, True, 'relu'\), "
     r"\(3, True, 'softmax'\)\] here"),
    ("optimizer", _two_layer, lambda: _two_layer(optimizer="adam"),
     "sparse_categorical_crossentropy", r"optimizer 'sgd' in the file, 'adam' here"),
    ("activation", _two_layer, lambda: _two_layer(activation="sigmoid"),
     "sparse_categorical_crossentropy",
     r"input_dim and layers \(units, use_bias, activation\) 4, \[\(5, True, 'relu'\), "
     r"\(3, True, 'softmax'\)\] in the file; 4, \[\(5, True, 'relu'\), \(3, True, 'sigmoid'\)\]"),
    ("loss", _two_layer, lambda: _two_layer(loss="categorical_crossentropy"),
     "categorical_crossentropy",
     r"loss 'sparse_categorical_crossentropy' in the file, 'categorical_crossentropy' here"),
]


@pytest.mark.parametrize("case_id, backed_up, other, loss, pattern", DIFFERENT_MODELS,
                         ids=[case[0] for case in DIFFERENT_MODELS])
def test_a_backup_of_a_different_model_is_refused(tmp_path, case_id, backed_up, other, loss,
                                                  pattern):
    """As many weights as the model in the file, but not the same model: adopting its
    state would train on garbage."""
    model = backed_up()
    model.fit(X, LABELS, epochs=1, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)],
              **FIT)
    other = other()
    other.build()
    before = state_of(other)
    assert other.params.size == model.params.size
    with pytest.raises(ValueError, match=r"^restore: .*backup\.npz' holds a different model: "
                                         + pattern):
        other.fit(X, TARGETS[loss], epochs=2, callbacks=[BackupAndRestore(tmp_path)], **FIT)
    assert_same_state(other, before)


# ------------------------------------------------------------ killed processes
EPOCHS = 10
TRAIN = r'''
import json, sys, time
import numpy as np
import fastnn
from fastnn import Dense, Sequential
from fastnn.callbacks import BackupAndRestore, LambdaCallback, ModelCheckpoint
from fastnn.optimizers import Adam
from fastnn.schedules import ExponentialDecay

mode, backup_dir, checkpoint, out = sys.argv[1:5]
EPOCHS = int(sys.argv[5])
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 10)).astype(np.float32)
y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)

if mode == "checkpoint":
    model = fastnn.load_model(checkpoint)
else:
    model = Sequential([Dense(16, activation="relu", input_dim=10),
                        Dense(8, activation="tanh"), Dense(3, activation="softmax")],
                       dtype="float32", seed=42)
    model.compile(optimizer=Adam(ExponentialDecay(0.01, 20, 0.9)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def began(logs=None):
    print("START", model.epochs_completed, flush=True)


def ended(epoch, logs=None):
    print("EPOCH", epoch + 1, json.dumps(logs["loss"]), flush=True)
    if mode == "slow":
        time.sleep(0.3)


hooks = [LambdaCallback(on_train_begin=began, on_epoch_end=ended)]
if mode != "checkpoint":
    hooks = [BackupAndRestore(backup_dir), ModelCheckpoint(checkpoint, monitor="loss")] + hooks
model.fit(x, y, epochs=EPOCHS, batch_size=16, validation_split=0.2, verbose=0, callbacks=hooks,
          initial_epoch=model.epochs_completed if mode == "checkpoint" else 0)
model.save(out)
print("DONE", flush=True)
'''


def _run(script, *args, timeout=300):
    """Run ``script`` to completion; (stdout lines)."""
    result = subprocess.run([sys.executable, str(script), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _losses(lines):
    """{epoch (1-based): loss} from the EPOCH lines."""
    return {int(line.split()[1]): json.loads(line.split()[2])
            for line in lines if line.startswith("EPOCH")}


def _start_epoch(lines):
    return int(next(line for line in lines if line.startswith("START")).split()[1])


def _assert_bitwise_equal(path, reference):
    model, expected = fastnn.load_model(path), fastnn.load_model(reference)
    assert_same_model(model, expected)
    assert model.epochs_completed == EPOCHS
    for mine, theirs in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def _kill_after(process, marker, extra_delay, timeout=300):
    """Read the process's output until a line starts with ``marker``, wait
    ``extra_delay`` seconds, SIGKILL it; returns the lines read."""
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(marker):
                time.sleep(extra_delay)
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=30)
    finally:
        watchdog.cancel()
    return lines


@needs_sigkill
@pytest.mark.slow
@pytest.mark.parametrize("extra_delay", [0.0, 0.31])  # asleep after an epoch / mid-epoch
def test_a_killed_training_process_resumes_bitwise(tmp_path, extra_delay):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)

    # The uninterrupted run, in its own directory.
    reference_lines = _run(script, "fast", tmp_path / "ref-backup", tmp_path / "ref-ckpt.npz",
                           tmp_path / "reference.npz", EPOCHS)
    assert _start_epoch(reference_lines) == 0
    reference_losses = _losses(reference_lines)
    assert sorted(reference_losses) == list(range(1, EPOCHS + 1))

    # Start the same run slowly; kill it without warning after its third epoch.
    backup, checkpoint = tmp_path / "backup", tmp_path / "ckpt.npz"
    process = subprocess.Popen(
        [sys.executable, str(script), "slow", str(backup), str(checkpoint),
         str(tmp_path / "never.npz"), str(EPOCHS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    killed_lines = _kill_after(process, "EPOCH 3 ", extra_delay)
    assert process.returncode == -signal.SIGKILL, killed_lines
    assert not (tmp_path / "never.npz").exists()
    assert (backup / "backup.npz").exists() and checkpoint.exists()
    # Whatever it logged before dying matches the reference, epoch for epoch.
    for epoch, loss in _losses(killed_lines).items():
        assert loss == reference_losses[epoch]
    saved_checkpoint = tmp_path / "ckpt-at-kill.npz"
    shutil.copy(checkpoint, saved_checkpoint)

    # Resume through BackupAndRestore: a new process, the same script.
    resumed_lines = _run(script, "fast", backup, checkpoint, tmp_path / "resumed.npz", EPOCHS)
    start = _start_epoch(resumed_lines)
    assert 3 <= start < EPOCHS
    resumed_losses = _losses(resumed_lines)
    assert sorted(resumed_losses) == list(range(start + 1, EPOCHS + 1))
    for epoch, loss in resumed_losses.items():
        assert loss == reference_losses[epoch]
    _assert_bitwise_equal(tmp_path / "resumed.npz", tmp_path / "reference.npz")
    assert not (backup / "backup.npz").exists()  # removed after the run finished

    # Resume through the last ModelCheckpoint and load_model instead.
    checkpoint_lines = _run(script, "checkpoint", tmp_path / "unused", saved_checkpoint,
                            tmp_path / "from-checkpoint.npz", EPOCHS)
    assert _start_epoch(checkpoint_lines) >= 3
    _assert_bitwise_equal(tmp_path / "from-checkpoint.npz", tmp_path / "reference.npz")


SAVE_FOREVER = r'''
import sys
from fastnn import Dense, Sequential
model = Sequential([Dense(700, input_dim=700), Dense(700)], seed=0)
model.compile(optimizer="adam", loss="mse")
model.build()
version = 0
while True:
    model.params[0] = version
    model._state[1, -1] = version
    model.save(sys.argv[1])
    print(version, flush=True)
    version += 1
'''


@needs_sigkill
@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.013, 0.037, 0.071, 0.15])
def test_a_process_killed_while_saving_leaves_a_loadable_file(tmp_path, delay):
    script = tmp_path / "save_forever.py"
    script.write_text(SAVE_FOREVER)
    path = tmp_path / "model.npz"
    process = subprocess.Popen([sys.executable, str(script), str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = _kill_after(process, "2", delay)  # at least three complete saves happened
    assert process.returncode == -signal.SIGKILL
    model = fastnn.load_model(path)  # never truncated, never half-written
    version = int(model.params[0])
    assert version >= int(lines[-1])
    assert model._state[1, -1] == version  # params and state from the same save
    leftovers = [name for name in os.listdir(tmp_path)
                 if name not in ("model.npz", "save_forever.py")]
    assert all(name.startswith(".model.npz.") and name.endswith(".tmp") for name in leftovers)
