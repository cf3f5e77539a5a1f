"""Saving and loading: a saved model loads bitwise; files are atomic, versioned,
checksummed and pickle-free, so a damaged, truncated or foreign file is refused and a
crash mid-save leaves the previous file intact. (Hostile files and what a save may
replace: test_saving_safety.py; resuming from checkpoints: test_resume.py.)
"""
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

import fastnn
from builders import LABELS, X, assert_same_model, make_model
from fastnn import Dense, Sequential, saving


def _trained_for_saving(dtype="float32", optimizer=None, epochs=2):
    model = make_model("sparse_categorical_crossentropy", "declared", dtype=dtype,
                       optimizer=optimizer)
    model.fit(X, LABELS, epochs=epochs, batch_size=8, verbose=0)
    return model


def _saved_then_edited(path, edit):
    """Save a trained model to ``path``, then rewrite the archive with ``edit(entries)``
    applied to its {name: array} entries (np.savez: CRCs stay consistent)."""
    _trained_for_saving().save(path)
    with np.load(path, allow_pickle=False) as archive:
        entries = {name: archive[name] for name in archive.files}
    edit(entries)
    np.savez(path, **entries)
    return path


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_round_trip(tmp_path, dtype):
    model = _trained_for_saving(dtype)
    model.save(tmp_path / "model.npz")
    assert_same_model(fastnn.load_model(tmp_path / "model.npz"), model)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary left behind


def test_a_numpy_integer_seed_saves(tmp_path):
    model = Sequential([Dense(2, input_dim=3)], seed=np.int64(5))
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.npz")
    assert fastnn.load_model(tmp_path / "m.npz").seed == 5


def test_loading_a_missing_file(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError, match=r"^load_model: no such file: .*nowhere\.npz"):
        fastnn.load_model(path)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_files_are_refused(tmp_path, fraction):
    path = tmp_path / "model.npz"
    _trained_for_saving().save(path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(ValueError, match=r"^load_model: .*model\.npz.* is not a readable "
                                         r"fastnn model file \(truncated or corrupted\?\)"):
        fastnn.load_model(path)


def test_every_single_byte_corruption_is_refused_or_harmless(tmp_path):
    """Flip each byte in turn: the file loads as the very same model (the byte was
    unused: a timestamp, padding) or is refused with a ValueError; never garbage."""
    path = tmp_path / "model.npz"
    _trained_for_saving().save(path)
    data = path.read_bytes()
    config, params, state = saving.read_model_file(path)
    refused = 0

    def poke(position, value):  # in place: truncating rewrites are slow on some disks
        with open(path, "r+b") as file:
            file.seek(position)
            file.write(bytes([value]))

    for position in range(len(data)):
        poke(position, data[position] ^ 0xA5)
        try:
            read = saving.read_model_file(path)
        except ValueError as error:
            assert str(error).startswith("load_model: "), error
            refused += 1
        else:
            assert read[0] == config
            assert read[1].dtype == params.dtype and read[1].tobytes() == params.tobytes()
            assert read[2].dtype == state.dtype and read[2].tobytes() == state.tobytes()
        finally:
            poke(position, data[position])
    assert refused > 0.8 * len(data)


def test_corrupted_weights_fail_the_checksum(tmp_path):
    # One weight changed but everything else (CRCs included) consistent, as a bit flip
    # in RAM before writing would produce.
    def bump_one_weight(entries):
        entries["params"] = entries["params"].copy()
        entries["params"][3] += 1

    path = _saved_then_edited(tmp_path / "model.npz", bump_one_weight)
    with pytest.raises(ValueError, match=r"^load_model: .* failed its checksum: the file is "
                                         r"corrupted\."):
        fastnn.load_model(path)


def test_a_damaged_header_cannot_reinterpret_the_weights(tmp_path):
    """The checksum covers bytes; a dtype or shape change in a .npy header is caught too."""
    path = _saved_then_edited(tmp_path / "model.npz", lambda entries: entries.update(
        params=entries["params"].view(np.int32)))
    with pytest.raises(ValueError, match=r"^load_model: .* is corrupted: params int32"):
        fastnn.load_model(path)


def test_an_unknown_format_version_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "future.npz"
    monkeypatch.setattr(saving, "FORMAT_VERSION", 99)
    _trained_for_saving().save(path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"^load_model: .*future\.npz.* has format version 99; "
                                         r"this fastnn reads version 1\."):
        fastnn.load_model(path)


def test_the_format_version_is_recorded(tmp_path):
    path = tmp_path / "model.npz"
    _trained_for_saving().save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"config", "params", "state", "checksum"}
        config = json.loads(archive["config"].tobytes())
    assert config["format_version"] == saving.FORMAT_VERSION == 1


class _Payload:
    """Unpickling this would create a file: proof that nothing unpickles."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_content_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    # np.savez pickles the object array.
    path = _saved_then_edited(tmp_path / "evil.npz", lambda entries: entries.update(
        config=np.array([_Payload(str(marker))], dtype=object)))
    with pytest.raises(ValueError, match=r"^load_model: .* not a readable fastnn model file"):
        fastnn.load_model(path)
    assert not marker.exists()


def test_nothing_in_the_package_unpickles():
    """Loading a pickle runs arbitrary code: fastnn never loads one (sweep only checks
    that a build function can be sent to worker processes, with pickle.dumps)."""
    root = pathlib.Path(fastnn.__file__).parent
    for source in root.rglob("*.py"):
        text = source.read_text()
        for loader in ("pickle.load", "pickle.Unpickler", "allow_pickle=True"):
            assert loader not in text, (source, loader)
    assert "allow_pickle=False" in (root / "saving.py").read_text()


def test_a_crash_mid_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    first = _trained_for_saving(epochs=1)
    first.save(path)
    second = _trained_for_saving(epochs=3)

    def crashing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(saving.np, "savez", crashing_savez)
    with pytest.raises(KeyboardInterrupt):
        second.save(path)
    monkeypatch.undo()
    assert_same_model(fastnn.load_model(path), first)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_saves_go_through_a_temporary_file_in_the_same_directory(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    renames = []
    real_replace = os.replace

    def recording_replace(source, target):
        assert os.path.exists(source) and os.path.getsize(source) > 0
        renames.append((source, target))
        real_replace(source, target)

    monkeypatch.setattr(saving.os, "replace", recording_replace)
    _trained_for_saving().save(path)
    [(source, target)] = renames
    assert os.path.dirname(source) == str(tmp_path) and target == str(path)
    assert os.path.basename(source) != "model.npz"


def test_a_crash_before_the_rename_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(saving.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        _trained_for_saving().save(path)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="process probing is POSIX-only")
def test_a_save_sweeps_old_temporaries_of_processes_killed_mid_save(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    hour_ago = time.time() - 2 * 3600
    names = {"killed": f".model.npz.{dead.pid}.0a1b2c3d.tmp",
             "alive": f".model.npz.{os.getpid()}.0a1b2c3d.tmp",
             "recent": f".model.npz.{dead.pid}.4e5f6a7b.tmp",
             "other model": f".other.npz.{dead.pid}.0a1b2c3d.tmp",
             "user file": "notes.tmp"}
    for label, name in names.items():
        (tmp_path / name).write_bytes(b"partial")
        if label != "recent":
            os.utime(tmp_path / name, (hour_ago, hour_ago))
    _trained_for_saving().save(tmp_path / "model.npz")
    left = set(os.listdir(tmp_path))
    assert names["killed"] not in left
    assert left == {"model.npz"} | {name for label, name in names.items() if label != "killed"}


def test_saved_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        _trained_for_saving().save(tmp_path / "model.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o644

