"""A ``Sequential`` as a fastnn file holds it, and back.

``fastnn.saving`` reads and writes the file format: a config dict and arrays. This
module, the model's own, makes that config and those arrays from a model, refuses a
model no file could rebuild, and builds a model from a file (``fastnn.load_model``)
or restores one's training state from it (``BackupAndRestore``), through the
model's own methods.
"""
import os
import warnings

import numpy as np

from . import initializers, losses, optimizers, saving, schedules
from .layers import Dense, Dropout


def _config(model):
    """The JSON-able description of ``model`` a file holds beside its arrays."""
    return {
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
        "rng": model._saved_state()[1],
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


def save_model(model, path):
    """Write ``model`` to ``path`` atomically (``fastnn.saving.write_model_file``).

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
    saving.write_model_file(path, _config(model), model.params, model._saved_state()[0])


def _cuda_available():
    """``fastnn._cuda.is_available()``, importing Numba's CUDA target only when a file
    asks for a GPU: the import costs ~25 ms that ``import fastnn`` need not pay."""
    from . import _cuda

    return _cuda.is_available()


# What rebuilding a model from a crafted config can raise (a wrong type where a
# number belongs, a missing key, an unknown name): each becomes one ValueError.
_CONFIG_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


def load(model_class, path):
    """A ``model_class`` (``Sequential``) from the file at ``path``: ``fastnn.load_model``."""
    path = os.fspath(path)
    config, params, state = saving.read_model_file(path)
    try:
        model = _rebuild(model_class, config, path)
    except _CONFIG_ERRORS as error:
        raise ValueError(f"load_model: {path!r} holds an invalid config: "
                         f"{type(error).__name__}: {error}") from None
    if params.size != model.params.size:
        raise ValueError(f"load_model: {path!r} is corrupted: it holds {params.size} "
                         f"parameters, but its architecture needs {model.params.size}.")
    _adopt(model, config, params, state)
    return model


def _rebuild(model_class, config, path):
    """A new model built and compiled from ``config``, its saved RNG state checked."""
    model = model_class(_layers(config), dtype=config["dtype"], seed=config["seed"])
    model._dropout_seed = int(config.get("dropout_seed", model._dropout_seed))
    model.build(config["input_dim"])
    compiled = config["compile"]
    if compiled is not None:
        device = compiled["device"]
        if device == "cuda" and not _cuda_available():
            warnings.warn(f"load_model: {path!r} was compiled for device='cuda', but no CUDA "
                          "GPU is available here; the model is loaded on the CPU (call "
                          "compile(..., device='cuda') on a GPU machine to move it back).",
                          RuntimeWarning, stacklevel=4)
            device = "cpu"
        loss = losses.deserialize(compiled["loss"], compiled.get("loss_config"), "compile")
        if loss == losses.deserialize(compiled["loss"], None, "compile"):
            loss = compiled["loss"]  # Keras's defaults: the name, as it was compiled
        model.compile(optimizer=optimizers.deserialize(compiled["optimizer"]),
                      loss=loss, metrics=compiled["metrics"], device=device,
                      weighted_metrics=compiled.get("weighted_metrics"))
    model._check_rng_state(config["rng"])
    return model


def _layers(config):
    """The Dense and Dropout layers in order (a file without "dropouts" has none)."""
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
    config, params, state = saving.read_model_file(path, "restore")
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
    try:
        model._check_rng_state(config["rng"])
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
    own = model._saved_state()[0]
    if state.size and own.size and state.shape != own.shape:
        raise ValueError(f"{where}: {path!r} holds optimizer state of shape {state.shape}; "
                         f"this model's is {own.shape}.")


def _adopt(model, config, params, state):
    """Copy weights, optimizer slots, RNG state and epoch counter into ``model``."""
    model._adopt_saved_state(params, state, config["rng"], config["epochs_completed"])
