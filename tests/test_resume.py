"""Kill-and-resume: a training process killed with SIGKILL resumes from its last
completed epoch (BackupAndRestore) or its last checkpoint (ModelCheckpoint) and ends
bitwise identical to a run that was never interrupted; a process killed while saving
never leaves a damaged model file behind.
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

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

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
    assert model.params.tobytes() == expected.params.tobytes()
    assert model._state.tobytes() == expected._state.tobytes()
    assert model._rng.bit_generator.state == expected._rng.bit_generator.state
    assert model.optimizer.iterations == expected.optimizer.iterations
    assert model.epochs_completed == expected.epochs_completed == EPOCHS
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
