"""The model file format: a .npz holding a JSON config and raw arrays, no pickle.

This module reads and writes the format and checks files; what a model puts in the
config and arrays, and how a model is built or restored from them, is
``fastnn.model_file``'s.

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
import zipfile

import numpy as np

from . import optimizers

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


def write_model_file(path, config, params, state):
    """Write a model file atomically (see the module docstring).

    Parameters
    ----------
    path : str or path-like
    config : dict
        The model's JSON-able description; the file adds its ``format_version``.
    params : ndarray (P,)
    state : ndarray (slots, P)
        The optimizer slots; (0, P) before compile.

    Raises
    ------
    TypeError
        A configuration value JSON cannot hold.
    ValueError
        ``path`` (or a symlink's target) exists and is not a regular file.
    OSError
        The file could not be written; the message names ``path``.
    """
    path = os.fspath(path)
    target = _save_target(path)
    try:
        config_bytes = json.dumps({"format_version": FORMAT_VERSION, **config}).encode()
    except (TypeError, ValueError) as error:
        raise TypeError(f"save: the model's configuration cannot be written to a file: "
                        f"{error}.") from None
    arrays = {
        "config": np.frombuffer(config_bytes, dtype=np.uint8),
        "params": params,
        "state": state,
        "checksum": np.frombuffer(_digest(config_bytes, params, state).encode(),
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
