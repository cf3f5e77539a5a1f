"""One-file model persistence: a .npz holding JSON config and raw arrays, no pickle.

Layout (format version 1):
  config    uint8  UTF-8 JSON: architecture, dtype, seed, compile config, optimizer
                   (iterations included), RNG state, epochs completed
  params    model dtype (P,)      the flat weight buffer
  state     model dtype (2, P)    optimizer slots (absent before compile; 3 rows for
                                  amsgrad and centered RMSprop)
  checksum  uint8  SHA-256 hex digest of config, params and state bytes

Writes are atomic: a temporary file in the target's directory, flushed and fsynced,
then ``os.replace``; a crash mid-save leaves the previous file intact. A symlink is
written through (its target is replaced, as ``np.save`` does); anything but a regular
file (a device, a FIFO, a directory) is refused rather than replaced.

Reads trust nothing before it is checked: the file must be a regular file; the zip
members stored uncompressed (as ``np.savez`` writes them) and no larger than the
file; the config well-formed; and the .npy headers' dtypes and shapes those the
config's architecture implies, all before any array is allocated. The checksum is
an integrity check, not a signature: anyone can forge it, so a crafted file is
refused by these checks with a ValueError, never by an arbitrary exception.
"""
import hashlib
import json
import os
import secrets
import stat
import time
import warnings
import zipfile

import numpy as np

from . import initializers, losses, optimizers, schedules

FORMAT_VERSION = 1

_MEMBERS = ("config", "params", "state", "checksum")
# A config is a few hundred bytes per layer; this bounds what a crafted file can make
# the reader allocate (and parse) before anything else is checked.
_MAX_CONFIG_BYTES = 1 << 24
# Optimizer slots saved: none before compile, two (moments, velocities) after, three
# for Adam(amsgrad=True) and RMSprop(centered=True).
_STATE_SLOTS = (0, 2, 3)
_DTYPES = ("float32", "float64")
# Temporary names are ".NAME.PID.HEX.tmp"; a NAME too long to leave room for the
# suffix within the 255-byte file-name limit is shortened (and hashed, to stay unique).
_NAME_MAX = 255
_TEMPORARY_SUFFIX_BYTES = 32


def _digest(config_bytes, params, state):
    digest = hashlib.sha256(config_bytes)
    digest.update(np.ascontiguousarray(params).tobytes())
    digest.update(np.ascontiguousarray(state).tobytes())
    return digest.hexdigest()


def _config(model):
    return {
        "format_version": FORMAT_VERSION,
        "dtype": model.dtype.name,
        "seed": None if model.seed is None else int(model.seed),
        "input_dim": model.input_dim,
        "layers": [layer.get_config() for layer in model.layers],
        "dropouts": [dict(layer.get_config(), block=block) for block, layer in model._dropouts],
        "dropout_seed": model._dropout_seed,
        "compile": None if model.optimizer is None else {
            "optimizer": optimizers.serialize(model.optimizer),
            "loss": model.loss, "loss_config": model.loss_object.get_config(),
            "metrics": model.metrics,
            "weighted_metrics": model.weighted_metrics, "device": model.device},
        "rng": model._rng.bit_generator.state,
        "epochs_completed": model.epochs_completed,
    }


def _custom(kind, value, registry, where, fix):
    return TypeError(f"{where}: the {kind} is a {type(value).__module__}."
                     f"{type(value).__qualname__}, a class fastnn does not know; a fastnn file "
                     f"can hold only the built-in ones ({', '.join(sorted(registry))}), so "
                     f"load_model could not rebuild it. {fix}")


def check_savable(model, where="save"):
    """Refuse a model whose file ``load_model`` could not rebuild, before writing.

    Custom classes (a subclass of ``Adam``, a user ``LearningRateSchedule`` or
    ``Initializer``) are not in fastnn's registries, so their files would load with
    a KeyError; they are refused here, naming the class.

    Parameters
    ----------
    model : Sequential
    where : str, default="save"
        The caller named in the message ("ModelCheckpoint", ...).

    Raises
    ------
    TypeError
        The optimizer, its learning-rate schedule or an initializer is a custom class.
    """
    keep = ("Use a built-in class, or keep the weights with get_weights() and "
            "restore them with set_weights().")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        name = type(optimizer).__name__.lower()  # the key optimizers.serialize writes
        if optimizers.OPTIMIZERS.get(name) is not type(optimizer):
            raise _custom("optimizer", optimizer, optimizers.OPTIMIZERS, where, keep)
        rate = optimizer.learning_rate
        if (isinstance(rate, schedules.LearningRateSchedule)
                and schedules.SCHEDULES.get(type(rate).__name__) is not type(rate)):
            raise _custom("learning-rate schedule", rate, schedules.SCHEDULES, where, keep)
    known = set(initializers.INITIALIZERS.values())
    for index, layer in enumerate(model.layers):
        for which in ("kernel_initializer", "bias_initializer"):
            initializer = getattr(layer, which)
            if type(initializer) not in known:
                raise _custom(f"{which} of layer {index}", initializer,
                              initializers.INITIALIZERS, where, keep)


def _kind(mode):
    """'a character device' etc. for a stat mode that is not a regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _save_target(path):
    """The file a save to ``path`` replaces: through symlinks, and only a regular one.

    Saving renames a new file over the target, so a symlink would be replaced by a
    file and a device node (``/dev/null`` as root) destroyed; ``np.save`` instead
    writes through the link, and nothing should replace a device.
    """
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except OSError:  # absent (a new file, or a dangling link's target) or unreachable:
        return target  # the write itself reports any real problem, naming ``path``
    if not stat.S_ISREG(mode):
        through = "" if target == os.path.abspath(path) else f" (through a link to {target!r})"
        raise ValueError(f"save: {path!r}{through} is {_kind(mode)}, not a regular file; "
                         "refusing to replace it. Give the path of a new or existing file.")
    return target


def _temporary_stem(name):
    """``name``, or a shortened unique form when the temporary's name would be too long."""
    if len(os.fsencode(name)) + _TEMPORARY_SUFFIX_BYTES <= _NAME_MAX:
        return name
    short = name[:48]
    while len(os.fsencode(short)) > 160:  # multi-byte characters
        short = short[:-1]
    return f"{short}~{hashlib.sha256(os.fsencode(name)).hexdigest()[:12]}"


def _about(path, error):
    """``error`` (an OSError about the temporary file) re-raised about ``path``."""
    reason = error.strerror or str(error)
    if error.errno is None:
        return OSError(f"save: could not write {path!r}: {reason}")
    # OSError(errno, ...) picks the subclass (FileNotFoundError, PermissionError...).
    return OSError(error.errno, f"save: could not write {path!r}: {reason}", path)


def save_model(model, path):
    """Write ``model`` to ``path`` atomically (see the module docstring).

    Raises
    ------
    TypeError
        A custom optimizer, schedule or initializer class (see ``check_savable``), or
        a configuration value JSON cannot hold.
    ValueError
        ``path`` (or a symlink's target) exists and is not a regular file.
    OSError
        The file could not be written; the message names ``path``.
    """
    model._require_built("save")
    path = os.fspath(path)
    check_savable(model, "save")
    target = _save_target(path)
    try:
        config_bytes = json.dumps(_config(model)).encode()
    except (TypeError, ValueError) as error:
        raise TypeError(f"save: the model's configuration cannot be written to a file: "
                        f"{error}.") from None
    state = model._state if model._state is not None else np.zeros((0, model.params.size),
                                                                     model.dtype)
    arrays = {
        "config": np.frombuffer(config_bytes, dtype=np.uint8),
        "params": model.params,
        "state": state,
        "checksum": np.frombuffer(_digest(config_bytes, model.params, state).encode(),
                                  dtype=np.uint8),
    }
    directory, name = os.path.split(target)
    stem = _temporary_stem(name)
    _remove_stale_temporaries(directory, stem)
    # Not tempfile.mkstemp: its 0600 mode would leave the saved model unreadable to
    # others; os.open with 0666 applies the umask as an ordinary open() does.
    temporary = os.path.join(directory, f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise _about(path, error) from None
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(error, OSError):
            raise _about(path, error) from None
        raise
    _fsync_directory(directory)


def _remove_stale_temporaries(directory, name, min_age=3600.0):
    """Delete temporaries of earlier saves to ``name`` whose process died mid-save.

    A save killed between writing and renaming (SIGKILL, power loss) leaves its
    ``.NAME.PID.HEX.tmp`` behind; the saved model itself is untouched. A temporary is
    removed only when its process no longer exists and it is older than ``min_age``
    seconds, so a save in progress (on this host, or another sharing the directory)
    is never disturbed.
    """
    prefix, now = f".{name}.", time.time()
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix):].split(".")[0]
        if not pid.isdigit():
            continue
        candidate = os.path.join(directory, entry)
        try:
            if now - os.stat(candidate).st_mtime < min_age or _process_exists(int(pid)):
                continue
            os.remove(candidate)
        except OSError:
            pass  # gone already, or not ours to remove


def _process_exists(pid):
    if os.name == "nt":  # os.kill would terminate the process there, not probe it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):  # PermissionError: someone else's process
        return True
    return True


def _fsync_directory(directory):
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        handle = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _open_regular(path, where):
    """A read handle on ``path``, refused unless it is a regular file.

    O_NONBLOCK makes opening a FIFO return at once (a plain open blocks until some
    writer appears); fstat on the open handle then refuses it, with no window for
    the path to change between the check and the read.
    """
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file: {path!r}") from None
    mode = os.fstat(handle).st_mode
    if not stat.S_ISREG(mode):
        os.close(handle)
        raise ValueError(f"{where}: {path!r} is {_kind(mode)}, not a regular file; a "
                         "fastnn model is a .npz file.")
    if hasattr(os, "set_blocking"):
        os.set_blocking(handle, True)
    return handle


def _member_infos(archive, size):
    """The four members' ZipInfo, checked: exactly these names, stored uncompressed,
    unencrypted, and each no larger than the file (so no read can balloon)."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    expected = sorted(f"{m}.npy" for m in _MEMBERS)
    if sorted(names) != expected:
        missing = sorted(set(expected) - set(names))
        raise ValueError(f"missing entries {[n[:-4] for n in missing]}" if missing else
                         f"unexpected entries {sorted(names)}; expected {expected}")
    by_name = {}
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise ValueError(f"entry {info.filename} is compressed or encrypted; fastnn "
                             "writes plain stored entries")
        if info.file_size > size or info.compress_size != info.file_size:
            raise ValueError(f"entry {info.filename} declares {info.file_size} bytes in a "
                             f"file of {size}")
        by_name[info.filename[:-4]] = info
    return by_name


def _npy_header(archive, info):
    """(dtype, shape) from a member's .npy header; nothing else is read."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"entry {info.filename} has .npy format version {version}")
        header_bytes = member.tell()
    if fortran and len(shape) > 1:
        raise ValueError(f"entry {info.filename} is in Fortran order")
    return dtype, tuple(shape), header_bytes


class _Mismatch(ValueError):
    """A member's .npy header disagrees with what the config implies."""


class _ConfigError(ValueError):
    """A config that cannot be used; the message is complete (caller, path, reason)."""


def _read_member(archive, info, dtype, shapes):
    """A member's array. Its header must give ``dtype`` and one of ``shapes`` (None:
    any 1-D uint8 up to ``_MAX_CONFIG_BYTES``), and the data it declares must fit in
    the member, before the array is allocated."""
    got_dtype, got_shape, header_bytes = _npy_header(archive, info)
    if shapes is None:  # config or checksum bytes: read before the config is known
        if (got_dtype != np.uint8 or len(got_shape) != 1
                or got_shape[0] > _MAX_CONFIG_BYTES):
            raise ValueError(f"entry {info.filename} holds {got_dtype} {got_shape}, not "
                             "uint8 bytes")
    elif got_dtype != dtype or got_shape not in shapes:
        raise _Mismatch(f"{info.filename[:-4]} {got_dtype} {got_shape}, but its config "
                        f"implies {dtype} {' or '.join(map(str, shapes))}")
    declared = int(np.prod(got_shape, dtype=np.int64)) * got_dtype.itemsize
    if declared > info.file_size - header_bytes:
        raise ValueError(f"entry {info.filename} declares {declared} bytes of data but holds "
                         f"{info.file_size - header_bytes}")
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _count(value, what, positive=False):
    """A JSON int (not a bool) that is >= 0 (or > 0)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < int(positive):
        bound = "a positive int" if positive else "a non-negative int"
        raise ValueError(f"{what} must be {bound}, got {value!r}")
    return value


def _parameter_count(config):
    """P from the config's architecture, checking each field the count depends on."""
    layers = config.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"layers must be a non-empty list, got {type(layers).__name__}")
    width = _count(config.get("input_dim"), "input_dim", positive=True)
    total = 0
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ValueError(f"layer {index} must be an object, got {type(layer).__name__}")
        units = _count(layer.get("units"), f"layer {index} units", positive=True)
        if not isinstance(layer.get("use_bias"), bool):
            raise ValueError(f"layer {index} use_bias must be true or false, got "
                             f"{layer.get('use_bias')!r}")
        if not isinstance(layer.get("activation"), str):
            raise ValueError(f"layer {index} activation must be a name, got "
                             f"{layer.get('activation')!r}")
        total += width * units + (units if layer["use_bias"] else 0)
        width = units
    return total


def _check_config(config):
    """Structure and counters of a parsed config (ValueError naming the field)."""
    if not isinstance(config, dict):
        raise ValueError(f"the config must be an object, got {type(config).__name__}")
    if config.get("dtype") not in _DTYPES:
        raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {config.get('dtype')!r}")
    seed = config.get("seed")
    if seed is not None:
        _count(seed, "seed")
    _count(config.get("epochs_completed"), "epochs_completed")
    if not isinstance(config.get("rng"), dict):
        raise ValueError(f"rng must be an object, got {type(config.get('rng')).__name__}")
    compiled = config.get("compile")
    if compiled is not None:
        if not isinstance(compiled, dict) or not isinstance(compiled.get("optimizer"), dict):
            raise ValueError("compile must be null or an object with an optimizer")
        spec = compiled["optimizer"]
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("config"), dict):
            raise ValueError("the optimizer must have a name and a config")
        _count(spec.get("iterations"), "the optimizer's iterations")
        if spec["name"] not in optimizers.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {spec['name']!r}")
    return _parameter_count(config)


def _parse_config(config_bytes, path, where):
    """The config dict of a readable, current-version file (else _ConfigError)."""
    try:
        config = json.loads(config_bytes.decode("utf-8"))
        version = config.get("format_version")
    except (ValueError, AttributeError, RecursionError) as error:  # UnicodeDecodeError too
        raise _ConfigError(f"{where}: {path!r} holds an unreadable config: "
                           f"{type(error).__name__}: {error}") from None
    if version != FORMAT_VERSION:
        raise _ConfigError(f"{where}: {path!r} has format version {version}; this fastnn "
                           f"reads version {FORMAT_VERSION}.")
    try:
        count = _check_config(config)
    except ValueError as error:
        raise _ConfigError(f"{where}: {path!r} holds an invalid config: {error}.") from None
    return config, count


def read_model_file(path, where="load_model"):
    """(config dict, params, state) from a verified file; ValueError if damaged.

    Every size is checked before the array it sizes is allocated (see the module
    docstring); ``where`` names the caller in messages.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a regular file; not a fastnn model file; truncated, corrupted or crafted.
    """
    path = os.fspath(path)
    handle = _open_regular(path, where)
    with os.fdopen(handle, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        try:
            with zipfile.ZipFile(file) as archive:
                infos = _member_infos(archive, size)
                config_bytes = _read_member(archive, infos["config"], None, None).tobytes()
                checksum = _read_member(archive, infos["checksum"], None, None).tobytes()
                config, count = _parse_config(config_bytes, path, where)
                dtype = np.dtype(config["dtype"])
                params = _read_member(archive, infos["params"], dtype, [(count,)])
                state = _read_member(archive, infos["state"], dtype,
                                     [(slots, count) for slots in _STATE_SLOTS])
        except _ConfigError as error:
            raise ValueError(str(error)) from None
        except _Mismatch as error:
            raise ValueError(f"{where}: {path!r} is corrupted: {error}.") from None
        except Exception as error:  # zipfile, struct, npy-header errors alike
            raise ValueError(f"{where}: {path!r} is not a readable fastnn model file "
                             f"(truncated or corrupted?): {type(error).__name__}: "
                             f"{error}") from None
    if _digest(config_bytes, params, state).encode() != checksum:
        raise ValueError(f"{where}: {path!r} failed its checksum: the file is corrupted.")
    return config, params, state


def _cuda_available():
    """``fastnn._cuda.is_available()``, importing Numba's CUDA target only when a file
    asks for a GPU: the import costs ~25 ms that ``import fastnn`` need not pay."""
    from . import _cuda

    return _cuda.is_available()


# What rebuilding a model from a crafted config can raise (a wrong type where a
# number belongs, a missing key, an unknown name): each becomes one ValueError.
_CONFIG_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


def load_model(path):
    """Load a model saved by ``Sequential.save``, compiled and ready to continue training.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Sequential

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a regular file, or is truncated, corrupted, crafted, or of an
        unknown format version. Sizes are checked before anything is allocated.
    """
    path = os.fspath(path)
    config, params, state = read_model_file(path)
    try:
        model = _rebuild(config, path)
    except _CONFIG_ERRORS as error:
        raise ValueError(f"load_model: {path!r} holds an invalid config: "
                         f"{type(error).__name__}: {error}") from None
    if params.size != model.params.size:
        raise ValueError(f"load_model: {path!r} is corrupted: it holds {params.size} "
                         f"parameters, but its architecture needs {model.params.size}.")
    _adopt(model, config, params, state)
    return model


def _rebuild(config, path):
    """A new model built and compiled from ``config``, its RNG in the saved state."""
    from .model import Sequential

    model = Sequential(_layers(config), dtype=config["dtype"], seed=config["seed"])
    model._dropout_seed = int(config.get("dropout_seed", model._dropout_seed))
    model.build(config["input_dim"])
    compiled = config["compile"]
    if compiled is not None:
        device = compiled["device"]
        if device == "cuda" and not _cuda_available():
            warnings.warn(f"load_model: {path!r} was compiled for device='cuda', but no CUDA "
                          "GPU is available here; the model is loaded on the CPU (call "
                          "compile(..., device='cuda') on a GPU machine to move it back).",
                          RuntimeWarning, stacklevel=3)
            device = "cpu"
        loss = losses.deserialize(compiled["loss"], compiled.get("loss_config"), "compile")
        if loss == losses.deserialize(compiled["loss"], None, "compile"):
            loss = compiled["loss"]  # Keras's defaults: the name, as it was compiled
        model.compile(optimizer=optimizers.deserialize(compiled["optimizer"]),
                      loss=loss, metrics=compiled["metrics"], device=device,
                      weighted_metrics=compiled.get("weighted_metrics"))
    model._rng.bit_generator.state = config["rng"]
    return model


def _layers(config):
    """The Dense and Dropout layers in order (a file without "dropouts" has none)."""
    from .layers import Dense, Dropout

    dense = [Dense.from_config(c) for c in config["layers"]]
    dropouts = {}
    for spec in config.get("dropouts", []):
        spec = dict(spec)
        dropouts.setdefault(spec.pop("block"), []).append(Dropout.from_config(spec))
    layers = []
    for block in range(len(dense) + 1):
        layers += dropouts.get(block, []) + dense[block:block + 1]
    return layers


def _differences(config, model):
    """What makes the saved ``config`` another model than ``model`` (a list of phrases)."""
    mine = _config(model)
    found = []

    def describe(c):
        return [(layer["units"], layer["use_bias"], layer["activation"]) for layer in c["layers"]]

    if config["dtype"] != mine["dtype"]:
        found.append(f"dtype {config['dtype']!r} in the file, {mine['dtype']!r} here")
    if (config["input_dim"], describe(config)) != (mine["input_dim"], describe(mine)):
        found.append(f"input_dim and layers (units, use_bias, activation) "
                     f"{config['input_dim']}, {describe(config)} in the file; "
                     f"{mine['input_dim']}, {describe(mine)} here")
    if config["compile"] is not None and mine["compile"] is not None:
        if config["compile"]["loss"] != mine["compile"]["loss"]:
            found.append(f"loss {config['compile']['loss']!r} in the file, "
                         f"{mine['compile']['loss']!r} here")
        theirs, ours = config["compile"]["optimizer"]["name"], mine["compile"]["optimizer"]["name"]
        if theirs != ours:
            # Another optimizer's slots mean something else (SGD's velocity is no
            # Adam moment): adopting them would train on garbage.
            found.append(f"optimizer {theirs!r} in the file, {ours!r} here")
    return found


def restore_into(model, path):
    """Load training state saved from the same model into ``model`` (BackupAndRestore).

    Everything is checked before ``model`` changes: the file as ``load_model`` checks
    it, then that it holds the same model (dtype, widths, activations, loss and
    optimizer class), its counters, learning rate and RNG state.

    Raises
    ------
    ValueError
        The file is damaged or crafted, or holds a different model.
    """
    path = os.fspath(path)
    config, params, state = read_model_file(path, "restore")
    try:
        found = _differences(config, model)
    except _CONFIG_ERRORS as error:
        raise ValueError(f"restore: {path!r} holds an invalid config: "
                         f"{type(error).__name__}: {error}") from None
    if found or params.shape != model.params.shape:
        raise ValueError(f"restore: {path!r} holds a different model: {'; '.join(found)}. "
                         "Restore only into the model that wrote the backup, or delete the "
                         "backup to start over.")
    iterations = rate = None
    if config["compile"] is not None and model.optimizer is not None:
        saved = config["compile"]["optimizer"]
        iterations = saved["iterations"]  # a non-negative int: checked when read
        # A float learning rate changed by a callback (ReduceLROnPlateau) is training
        # state too, as in Keras; schedules are configuration and stay the model's own.
        rate = saved["config"].get("learning_rate")
        if isinstance(rate, float) and isinstance(model.optimizer.learning_rate, float):
            if not (np.isfinite(rate) and rate >= 0):
                raise ValueError(f"restore: {path!r} holds an invalid config: learning_rate "
                                 f"must be a finite number >= 0, got {rate}.")
        else:
            rate = None
    scratch = type(model._rng.bit_generator)()
    try:
        scratch.state = config["rng"]
    except _CONFIG_ERRORS as error:
        raise ValueError(f"restore: {path!r} holds an invalid config: rng: "
                         f"{type(error).__name__}: {error}") from None
    _check_state_shape(model, state, path, "restore")
    if iterations is not None:
        model.optimizer.iterations = int(iterations)
    if rate is not None:
        model.optimizer.learning_rate = rate
    _adopt(model, config, params, state)


def _check_state_shape(model, state, path, where):
    if state.size and model._state is not None and state.shape != model._state.shape:
        raise ValueError(f"{where}: {path!r} holds optimizer state of shape {state.shape}; "
                         f"this model's is {model._state.shape}.")


def _adopt(model, config, params, state):
    """Copy weights, optimizer slots, RNG state and epoch counter into ``model``."""
    model.params[...] = params
    if state.size and model._state is not None:
        model._state[...] = state
    model._rng.bit_generator.state = config["rng"]
    model.epochs_completed = int(config["epochs_completed"])
