"""Saving never destroys what is not a model file; loading trusts nothing.

Crafted files below carry a valid checksum (it is an unkeyed SHA-256, trivial to
forge), so only the loader's own checks stand between them and the model.
"""
import io
import json
import os
import socket
import stat
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastnn
from builders import assert_same_model
from fastnn import Dense, Sequential, initializers, optimizers, saving, schedules
from fastnn.callbacks import BackupAndRestore, LambdaCallback, ModelCheckpoint

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file types")


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    return rng.standard_normal((n, 4)) + np.eye(3, 4)[labels] * 2, labels


def _model(optimizer="sgd", activation="softmax", loss="sparse_categorical_crossentropy",
           seed=0, **dense):
    model = Sequential([Dense(5, activation="relu", input_dim=4, **dense),
                        Dense(3, activation=activation)], seed=seed)
    model.compile(optimizer=optimizer, loss=loss)
    return model


def _trained(epochs=1, **kwargs):
    model = _model(**kwargs)
    model.fit(*_data(), epochs=epochs, verbose=0)
    return model


# ------------------------------------------------------- what a save may replace
@posix_only
def test_save_refuses_to_replace_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"^save: '.*pipe' is a FIFO \(named pipe\), not a "
                                         r"regular file; refusing to replace it\."):
        _trained().save(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # no temporary left


@posix_only
def test_save_refuses_to_replace_a_socket_or_a_directory(tmp_path):
    path = str(tmp_path / "sock")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(path)
        with pytest.raises(ValueError, match=r"^save: .*sock' is a socket, not a regular file"):
            _trained().save(path)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        server.close()
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError, match=r"^save: .*dir' is a directory, not a regular file"):
        _trained().save(tmp_path / "dir")
    assert (tmp_path / "dir").is_dir()


@posix_only
def test_save_refuses_to_replace_a_device_node(tmp_path):
    # A private node in tmp_path, never /dev/null: if the check failed, only it is lost.
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("creating a device node needs root")
    with pytest.raises(ValueError, match=r"^save: .*null' is a character device, not a regular "
                                         r"file; refusing to replace it\."):
        _trained().save(node)
    assert stat.S_ISCHR(os.lstat(node).st_mode)


@posix_only
def test_save_refuses_a_symlink_to_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    os.symlink("pipe", tmp_path / "link.npz")
    with pytest.raises(ValueError, match=r"^save: '.*link\.npz' \(through a link to '.*pipe'\) "
                                         r"is a FIFO"):
        _trained().save(tmp_path / "link.npz")
    assert os.path.islink(tmp_path / "link.npz")


# ---------------------------------------------------------- through a symlink
@posix_only
def test_save_writes_through_a_symlink(tmp_path):
    (tmp_path / "store").mkdir()
    first, second = _trained(epochs=1), _trained(epochs=2)
    first.save(tmp_path / "store" / "model.npz")
    os.symlink(os.path.join("store", "model.npz"), tmp_path / "latest.npz")
    second.save(tmp_path / "latest.npz")
    assert os.path.islink(tmp_path / "latest.npz")  # the link is still a link...
    # ...to new content
    assert_same_model(fastnn.load_model(tmp_path / "store" / "model.npz"), second)
    assert sorted(os.listdir(tmp_path / "store")) == ["model.npz"]


@posix_only
def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    os.symlink(tmp_path / "target.npz", tmp_path / "link.npz")
    model = _trained()
    model.save(tmp_path / "link.npz")
    assert os.path.islink(tmp_path / "link.npz") and (tmp_path / "target.npz").is_file()
    assert_same_model(fastnn.load_model(tmp_path / "link.npz"), model)


# ------------------------------------------------- errors name the user's path
def test_a_250_character_file_name_saves_and_loads(tmp_path):
    name = "m" * 246 + ".npz"
    assert len(name) == 250
    model = _trained()
    model.save(tmp_path / name)
    assert_same_model(fastnn.load_model(tmp_path / name), model)
    assert os.listdir(tmp_path) == [name]
    model.save(tmp_path / name)  # and again, over it
    assert os.listdir(tmp_path) == [name]


def test_a_missing_directory_is_reported_with_the_users_path(tmp_path):
    path = tmp_path / "missing" / "model.npz"
    with pytest.raises(FileNotFoundError) as info:
        _trained().save(path)
    message = str(info.value)
    assert f"save: could not write {str(path)!r}" in message and ".tmp" not in message
    assert info.value.filename == str(path)


def test_a_file_in_place_of_the_directory_is_reported_with_the_users_path(tmp_path):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "model.npz"
    with pytest.raises(NotADirectoryError, match=r"save: could not write '.*file/model\.npz'"):
        _trained().save(path)


def test_a_failing_rename_is_reported_with_the_users_path(tmp_path, monkeypatch):
    def denied(source, target):
        raise PermissionError(13, "Permission denied", source)

    monkeypatch.setattr(saving.os, "replace", denied)
    path = tmp_path / "model.npz"
    with pytest.raises(PermissionError) as info:
        _trained().save(path)
    assert ".tmp" not in str(info.value) and str(path) in str(info.value)
    assert info.value.filename == str(path)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------- custom classes
class MyAdam(optimizers.Adam):
    pass


class MySchedule(schedules.LearningRateSchedule):
    def rates(self, steps):
        return 0.01 / (1 + steps)


class MyInit(initializers.Initializer):
    def __call__(self, shape, rng):
        return np.full(shape, 0.1)


@pytest.mark.parametrize("make, pattern", [
    (lambda: _model(optimizer=MyAdam()),
     r"^save: the optimizer is a .*MyAdam, a class fastnn does not know; a fastnn file can "
     r"hold only the built-in ones \(adam, .*\), so load_model could not rebuild it\. Use a "
     r"built-in class"),
    (lambda: _model(optimizer=optimizers.SGD(MySchedule())),
     r"^save: the learning-rate schedule is a .*MySchedule, a class fastnn does not know"),
    (lambda: _model(kernel_initializer=MyInit()),
     r"^save: the kernel_initializer of layer 0 is a .*MyInit, a class fastnn does not know"),
], ids=["adam-subclass", "schedule", "initializer"])
def test_custom_classes_are_refused_at_save(tmp_path, make, pattern):
    model = make()
    with pytest.raises(TypeError, match=pattern):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("callback, name", [
    (lambda tmp: ModelCheckpoint(tmp / "ckpt.npz", monitor="loss"), "ModelCheckpoint"),
    (lambda tmp: BackupAndRestore(tmp / "backup"), "BackupAndRestore"),
], ids=["checkpoint", "backup"])
def test_checkpoint_callbacks_refuse_a_custom_optimizer_before_training(tmp_path, callback,
                                                                        name):
    model = _model(optimizer=MyAdam())
    model.build()
    before = model.params.copy()
    with pytest.raises(TypeError, match=rf"^{name}: the optimizer is a .*MyAdam"):
        model.fit(*_data(), epochs=3, verbose=0, callbacks=[callback(tmp_path)])
    assert model.epochs_completed == 0 and model.params.tobytes() == before.tobytes()
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------ crafted files
def _write(path, config, params, state, *, compression=zipfile.ZIP_STORED, extra=None,
           checksum=None):
    """A model file from parts, with a valid checksum unless one is given."""
    config_bytes = json.dumps(config).encode() if not isinstance(config, bytes) else config
    digest = checksum or saving._digest(config_bytes, params, state).encode()
    members = {"config": np.frombuffer(config_bytes, np.uint8), "params": params,
               "state": state, "checksum": np.frombuffer(digest, np.uint8)}
    members.update(extra or {})
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, array in members.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            archive.writestr(name + ".npy", buffer.getvalue())
    return path


@pytest.fixture
def genuine(tmp_path):
    """(config, params, state) of a real saved model."""
    _trained().save(tmp_path / "real.npz")
    return saving.read_model_file(tmp_path / "real.npz")


def _edited(genuine, edit):
    config, params, state = genuine
    config = json.loads(json.dumps(config))
    edit(config)
    return config, params, state


INVALID_CONFIGS = [
    ("no-layers", lambda c: c.pop("layers"), r"layers must be a non-empty list"),
    ("units-string", lambda c: c["layers"][0].update(units="5"),
     r"layer 0 units must be a positive int, got '5'"),
    ("units-bool", lambda c: c["layers"][1].update(units=True),
     r"layer 1 units must be a positive int, got True"),
    ("use-bias-string", lambda c: c["layers"][0].update(use_bias="yes"),
     r"layer 0 use_bias must be true or false"),
    ("input-dim-zero", lambda c: c.update(input_dim=0), r"input_dim must be a positive int"),
    ("negative-epochs", lambda c: c.update(epochs_completed=-3),
     r"epochs_completed must be a non-negative int, got -3"),
    ("float-epochs", lambda c: c.update(epochs_completed=2.5),
     r"epochs_completed must be a non-negative int, got 2\.5"),
    ("negative-steps", lambda c: c["compile"]["optimizer"].update(iterations=-1),
     r"the optimizer's iterations must be a non-negative int, got -1"),
    ("unknown-optimizer", lambda c: c["compile"]["optimizer"].update(name="lion"),
     r"unknown optimizer 'lion'"),
    ("dtype", lambda c: c.update(dtype="complex128"), r"dtype must be one of"),
    ("rng-not-object", lambda c: c.update(rng=[1, 2]), r"rng must be an object"),
]


@pytest.mark.parametrize("edit, pattern", [case[1:] for case in INVALID_CONFIGS],
                         ids=[case[0] for case in INVALID_CONFIGS])
def test_a_crafted_config_is_refused_with_a_value_error(tmp_path, genuine, edit, pattern):
    path = _write(tmp_path / "evil.npz", *_edited(genuine, edit))
    with pytest.raises(ValueError, match=r"^load_model: '.*evil\.npz' holds an invalid config: "
                                         + pattern):
        fastnn.load_model(path)


REBUILD_ERRORS = [
    ("optimizer-kwarg", lambda c: c["compile"]["optimizer"]["config"].update(bogus=1),
     r"TypeError: .*bogus"),
    ("optimizer-rate", lambda c: c["compile"]["optimizer"]["config"].update(learning_rate=-1.0),
     r"ValueError: SGD: learning_rate must be a finite number >= 0"),
    ("initializer", lambda c: c["layers"][0]["kernel_initializer"].update(name="nope"),
     r"KeyError: 'nope'"),
    ("activation", lambda c: c["layers"][0].update(activation="swish"),
     r"ValueError: Dense: unknown activation 'swish'"),
    ("loss", lambda c: c["compile"].update(loss="hinge"),
     r"ValueError: compile: unknown loss 'hinge'"),
    ("rng", lambda c: c["rng"].update(state={"state": "x"}), r"(TypeError|ValueError|KeyError)"),
    ("layer-key", lambda c: c["layers"][0].pop("bias_initializer"), r"KeyError"),
]


@pytest.mark.parametrize("edit, pattern", [case[1:] for case in REBUILD_ERRORS],
                         ids=[case[0] for case in REBUILD_ERRORS])
def test_a_config_that_cannot_be_rebuilt_is_a_value_error(tmp_path, genuine, edit, pattern):
    path = _write(tmp_path / "evil.npz", *_edited(genuine, edit))
    with pytest.raises(ValueError, match=r"^load_model: '.*evil\.npz' holds an invalid config: "
                                         + pattern):
        fastnn.load_model(path)


def test_a_config_that_is_not_an_object_is_refused(tmp_path, genuine):
    _, params, state = genuine
    path = _write(tmp_path / "evil.npz", b"[1, 2, 3]", params, state)
    with pytest.raises(ValueError, match=r"^load_model: .* holds an unreadable config"):
        fastnn.load_model(path)
    path = _write(tmp_path / "deep.npz", b"[" * 100000 + b"]" * 100000, params, state)
    with pytest.raises(ValueError, match=r"^load_model: .* holds an unreadable config"):
        fastnn.load_model(path)


def test_a_huge_declared_layer_is_refused_before_anything_is_built(tmp_path, genuine,
                                                                   monkeypatch):
    def wide(config):
        config["layers"][0]["units"] = 8000
        config["input_dim"] = 8000

    path = _write(tmp_path / "wide.npz", *_edited(genuine, wide))
    assert path.stat().st_size < 4096

    def no_build(self, *args, **kwargs):
        raise AssertionError("built before the sizes were checked")

    monkeypatch.setattr(Sequential, "build", no_build)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^load_model: .* is corrupted: params float32 "
                                             r"\(\d+,\), but its config implies float32 "
                                             r"\(64\d+,\)"):
            fastnn.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_header_declaring_more_data_than_the_file_holds_allocates_nothing(tmp_path,
                                                                            genuine):
    config, params, state = genuine

    def wide(config):
        config["layers"][0]["units"] = 8000
        config["input_dim"] = 8000

    config, _, _ = _edited(genuine, wide)
    count = 8000 * 8000 + 8000 + 8000 * 3 + 3
    path = _write(tmp_path / "liar.npz", config, params, state)
    # Rewrite the params header to declare the full size while the data stays small.
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (count,)})
    members["params.npy"] = header.getvalue() + params.tobytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^load_model: .* not a readable fastnn model "
                                             r"file .*declares 256\d+ bytes of data but holds"):
            fastnn.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_compressed_entry_is_refused_before_decompressing(tmp_path, genuine):
    config, params, state = genuine
    # 64 MiB of zeros deflate to ~64 KiB: a small file that would balloon when read.
    bomb = np.zeros(16 << 20, np.float32)
    path = _write(tmp_path / "bomb.npz", config, bomb, state,
                  compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^load_model: .* not a readable fastnn model "
                                             r"file .*compressed or encrypted"):
            fastnn.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_extra_or_missing_entries_are_refused(tmp_path, genuine):
    config, params, state = genuine
    path = _write(tmp_path / "extra.npz", config, params, state,
                  extra={"payload": np.zeros(3)})
    with pytest.raises(ValueError, match=r"^load_model: .* unexpected entries"):
        fastnn.load_model(path)


def test_a_big_endian_copy_of_the_weights_is_refused(tmp_path, genuine):
    config, params, state = genuine
    path = _write(tmp_path / "swapped.npz", config, params.astype(">f4"), state)
    with pytest.raises(ValueError, match=r"^load_model: .* is corrupted: params >f4"):
        fastnn.load_model(path)


def test_a_restore_from_a_crafted_backup_changes_nothing(tmp_path, genuine):
    config, params, state = _edited(genuine, lambda c: c["compile"]["optimizer"]["config"]
                                    .update(learning_rate=float("nan")))
    (tmp_path / "b").mkdir()
    _write(tmp_path / "b" / "backup.npz", config, params, state)
    model = _model()
    model.build()
    before = (model.params.copy(), model.optimizer.learning_rate)
    with pytest.raises(ValueError, match=r"^restore: .* holds an invalid config: learning_rate "
                                         r"must be a finite number >= 0, got nan\."):
        model.fit(*_data(), epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path / "b")])
    assert model.params.tobytes() == before[0].tobytes()
    assert model.optimizer.learning_rate == before[1]


# ------------------------------------------------------ not a regular file
@posix_only
def test_loading_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            fastnn.load_model(fifo)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # a regression: unblock the reader so the thread can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("load_model blocked on a FIFO")
    [error] = outcome
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"load_model: {str(fifo)!r} is a FIFO (named pipe), not a "
                                 "regular file")


def test_loading_a_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"^load_model: .* is a directory, not a regular file"):
        fastnn.load_model(tmp_path)


def test_checkpoints_still_work_with_the_checks(tmp_path):
    x, y = _data()
    seen = []
    model = _model(optimizer=optimizers.Adam(schedules.ExponentialDecay(0.01, 10, 0.9)))
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[ModelCheckpoint(tmp_path / "c-{epoch}.npz", monitor="loss"),
                         LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))])
    assert_same_model(fastnn.load_model(tmp_path / "c-2.npz"), model)
    assert seen == [0, 1]
