"""One-file model persistence: a .npz holding JSON config and raw arrays, no pickle.

Layout (format version 1):
  config    uint8  UTF-8 JSON: architecture, dtype, seed, compile config, optimizer
                   (iterations included), RNG state, epochs completed
  params    model dtype (P,)      the flat weight buffer
  state     model dtype (2, P)    optimizer slots (absent before compile)
  checksum  uint8  SHA-256 hex digest of config, params and state bytes

Writes are atomic: a temporary file in the target's directory, flushed and fsynced,
then ``os.replace``; a crash mid-save leaves the previous file intact.
"""
import hashlib
import json
import os
import secrets
import time
import warnings

import numpy as np

from . import optimizers

FORMAT_VERSION = 1


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
        "compile": None if model.optimizer is None else {
            "optimizer": optimizers.serialize(model.optimizer),
            "loss": model.loss, "metrics": model.metrics, "device": model.device},
        "rng": model._rng.bit_generator.state,
        "epochs_completed": model.epochs_completed,
    }


def save_model(model, path):
    """Write ``model`` to ``path`` atomically (see the module docstring)."""
    model._require_built("save")
    path = os.fspath(path)
    config_bytes = json.dumps(_config(model)).encode()
    state = model._state if model._state is not None else np.zeros((0, model.params.size),
                                                                     model.dtype)
    arrays = {
        "config": np.frombuffer(config_bytes, dtype=np.uint8),
        "params": model.params,
        "state": state,
        "checksum": np.frombuffer(_digest(config_bytes, model.params, state).encode(),
                                  dtype=np.uint8),
    }
    directory, name = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(directory, name)
    # Not tempfile.mkstemp: its 0600 mode would leave the saved model unreadable to
    # others; os.open with 0666 applies the umask as an ordinary open() does.
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
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


def read_model_file(path):
    """(config dict, params, state) from a verified file; ValueError if damaged."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no such file: {path!r}")
    # Opening is outside the try: a directory or a permission problem is an OSError
    # about the path, not a damaged file.
    with open(path, "rb") as file:
        try:
            with np.load(file, allow_pickle=False) as archive:
                missing = {"config", "params", "state", "checksum"} - set(archive.files)
                if missing:
                    raise ValueError(f"missing entries {sorted(missing)}")
                config_bytes = archive["config"].tobytes()
                params, state = archive["params"], archive["state"]
                checksum = archive["checksum"].tobytes().decode()
        except Exception as error:  # zipfile, zlib, struct, npy-header errors alike
            raise ValueError(f"load_model: {path!r} is not a readable fastnn model file "
                             f"(truncated or corrupted?): {type(error).__name__}: "
                             f"{error}") from None
    if _digest(config_bytes, params, state) != checksum:
        raise ValueError(f"load_model: {path!r} failed its checksum: the file is corrupted.")
    try:
        config = json.loads(config_bytes)
        version = config.get("format_version")
    except (ValueError, AttributeError) as error:
        raise ValueError(f"load_model: {path!r} holds an unreadable config: {error}") from None
    if version != FORMAT_VERSION:
        raise ValueError(f"load_model: {path!r} has format version {version}; this fastnn "
                         f"reads version {FORMAT_VERSION}.")
    # The checksum covers the bytes, not the .npy headers: check dtype and shapes too.
    if (params.dtype.name != config.get("dtype") or params.ndim != 1
            or state.dtype != params.dtype or state.shape not in ((2, params.size),
                                                                  (0, params.size))):
        raise ValueError(f"load_model: {path!r} is corrupted: params {params.dtype} "
                         f"{params.shape} and state {state.dtype} {state.shape} do not match "
                         f"its config (dtype {config.get('dtype')!r}).")
    return config, params, state


def _cuda_available():
    """``fastnn._cuda.is_available()``, importing Numba's CUDA target only when a file
    asks for a GPU: the import costs ~25 ms that ``import fastnn`` need not pay."""
    from . import _cuda

    return _cuda.is_available()


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
        The file is truncated, corrupted, or of an unknown format version.
    """
    from .layers import Dense
    from .model import Sequential

    config, params, state = read_model_file(path)
    model = Sequential([Dense.from_config(c) for c in config["layers"]], dtype=config["dtype"],
                       seed=config["seed"])
    model.build(config["input_dim"])
    if params.size != model.params.size:
        raise ValueError(f"load_model: {path!r} is corrupted: it holds {params.size} "
                         f"parameters, but its architecture needs {model.params.size}.")
    compiled = config["compile"]
    if compiled is not None:
        device = compiled["device"]
        if device == "cuda" and not _cuda_available():
            warnings.warn(f"load_model: {path!r} was compiled for device='cuda', but no CUDA "
                          "GPU is available here; the model is loaded on the CPU (call "
                          "compile(..., device='cuda') on a GPU machine to move it back).",
                          RuntimeWarning, stacklevel=2)
            device = "cpu"
        model.compile(optimizer=optimizers.deserialize(compiled["optimizer"]),
                      loss=compiled["loss"], metrics=compiled["metrics"], device=device)
    _adopt(model, config, params, state)
    return model


def restore_into(model, path):
    """Load training state saved from a model of the same architecture into ``model``."""
    config, params, state = read_model_file(path)
    saved = (config["input_dim"], [(c["units"], c["use_bias"]) for c in config["layers"]])
    mine = (model.input_dim, [(layer.units, layer.use_bias) for layer in model.layers])
    if (params.shape != model.params.shape or config["dtype"] != model.dtype.name
            or saved != mine):
        raise ValueError(f"restore: {path!r} holds a different model ({params.size} "
                         f"{config['dtype']} parameters, input_dim and (units, use_bias) "
                         f"{saved}; this model has {model.params.size} {model.dtype.name}, "
                         f"{mine}).")
    if config["compile"] is not None and model.optimizer is not None:
        saved = config["compile"]["optimizer"]
        model.optimizer.iterations = int(saved["iterations"])
        # A float learning rate changed by a callback (ReduceLROnPlateau) is training
        # state too, as in Keras; schedules are configuration and stay the model's own.
        rate = saved["config"].get("learning_rate")
        if isinstance(rate, float) and isinstance(model.optimizer.learning_rate, float):
            model.optimizer.learning_rate = rate
    _adopt(model, config, params, state)


def _adopt(model, config, params, state):
    model.params[...] = params
    if state.size and model._state is not None:
        model._state[...] = state
    model._rng.bit_generator.state = config["rng"]
    model.epochs_completed = int(config["epochs_completed"])
