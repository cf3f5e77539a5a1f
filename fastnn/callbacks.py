"""Callbacks: Python hooks run between epochs (never inside the fused epoch kernel)."""
import csv
import inspect
import math
import os
import re
import string
import sys
import warnings

import numpy as np

from ._validation import (boolean, callable_or_none, file_path, finite_float,
                          non_negative_float, positive_int, verbosity)
from .saving import check_savable


class Callback:
    """Base class. ``self.model`` is set before training; override any hook.

    Hooks: on_train_begin(logs), on_train_end(logs), on_epoch_begin(epoch, logs),
    on_epoch_end(epoch, logs). ``logs`` maps "loss", metrics and "val_..." to floats.
    """

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass


class History(Callback):
    """Per-epoch records: ``history["loss"]``, ``history["val_accuracy"]``, ...

    ``epoch`` lists the epoch indices. ``plot()`` draws the curves (needs matplotlib).
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def record_epochs(self, epochs, columns):
        """Record many epochs at once, as ``on_epoch_end`` would one by one: ``columns``
        maps each logged name to its values, one per epoch in ``epochs``."""
        self.epoch.extend(epochs)
        for key, values in columns.items():
            self.history.setdefault(key, []).extend(np.asarray(values, float).tolist())

    def plot(self, keys=None, ax=None):
        """Plot loss and metric curves, one panel per quantity with its val_ twin.

        Parameters
        ----------
        keys : list of str, optional
            Quantities to draw (default: every non-"val_" key).
        ax : matplotlib Axes or array of Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("History.plot needs matplotlib: "
                              "pip install 'fastnn-mlp[plot]'") from error
        keys = keys or [k for k in self.history if not k.startswith("val_")]
        if ax is None:
            figure, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(ax)
            figure = axes[0].figure
        epochs = np.asarray(self.epoch) + 1
        for axis, key in zip(axes, keys):
            axis.plot(epochs, self.history[key], label=key)
            if "val_" + key in self.history:
                axis.plot(epochs, self.history["val_" + key], label="val_" + key)
            axis.set_xlabel("epoch")
            axis.set_title(key)
            axis.legend()
        figure.tight_layout()
        return figure


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_outside_fastnn():
    """The ``warnings.warn`` stacklevel, seen from its caller, of the first frame
    outside fastnn: the user's ``fit`` call, however deep fit's internals go."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _mode_better(mode, monitor, where="callback"):
    """'min' or 'max' for 'min'/'max'/'auto' (auto: max for accuracy-like names)."""
    if not isinstance(monitor, str):
        raise TypeError(f"{where}: monitor must be the name of a logged quantity, got "
                        f"{type(monitor).__name__} {monitor!r}.")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{where}: mode must be 'auto', 'min' or 'max', got {mode!r}.")
    return mode


class _Monitor(Callback):
    """Shared bookkeeping for callbacks that watch one logged quantity."""

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        where = type(self).__name__
        self.monitor = monitor
        self.mode = _mode_better(mode, monitor, where)
        self.min_delta = abs(finite_float(where, "min_delta", min_delta))

    def _value(self, logs):
        """The monitored value, or None (with a warning) when this epoch did not log it.

        Keras 3 warns and skips rather than failing: a typo or a missing validation
        set must not throw away the epochs already trained.
        """
        logs = logs or {}
        if self.monitor not in logs:
            warnings.warn(f"{type(self).__name__}: monitor {self.monitor!r} is not logged, so "
                          f"this epoch is skipped; available: {sorted(logs)}. Use "
                          "validation_data or validation_split for 'val_' quantities.",
                          RuntimeWarning, stacklevel=_caller_outside_fastnn())
            return None
        return logs[self.monitor]

    def _improves(self, value, best):
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    def _worst(self):
        return math.inf if self.mode == "min" else -math.inf


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default="val_loss"
    min_delta : float, default=0
        Smallest change that counts as an improvement.
    patience : int, default=0
        Epochs without improvement before stopping.
    verbose : int or bool, default=0
    mode : {"auto", "min", "max"}, default="auto"
    baseline : float, optional
        Training stops if the quantity does not beat it within ``patience`` epochs.
        The best epoch is tracked all the same (for ``restore_best_weights``).
    restore_best_weights : bool, default=False
        Put back the weights of the best epoch when training ends, even if no
        epoch beat ``baseline`` (as Keras 3 does).
    start_from_epoch : int, default=0
        Epochs to train before watching ``monitor``.

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or value, naming it.

    Notes
    -----
    When ``monitor`` is missing from an epoch's logs, a RuntimeWarning lists the logged
    keys and the epoch is skipped.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        where = "EarlyStopping"
        super().__init__(monitor, mode, min_delta)
        self.patience = positive_int(where, "patience", patience, allow_zero=True)
        self.verbose = verbosity(where, verbose)
        self.baseline = None if baseline is None else finite_float(where, "baseline", baseline)
        self.restore_best_weights = boolean(where, "restore_best_weights",
                                            restore_best_weights)
        self.start_from_epoch = positive_int(where, "start_from_epoch", start_from_epoch,
                                             allow_zero=True)
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._worst()
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        value = self._value(logs)
        if value is None:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first watched epoch is the best so far even if its value is NaN.
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only once the baseline is beaten too; the best epoch
            # is tracked either way, so restore_best_weights has one to go back to.
            if self.baseline is None or self._improves(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping "
                  f"(best {self.monitor} = {self.best:.6g} at epoch {self.best_epoch + 1})")


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    Parameters
    ----------
    monitor : str, default="val_loss"
    factor : float, default=0.1
        In (0, 1).
    patience : int, default=10
    verbose : int or bool, default=0
    mode : {"auto", "min", "max"}, default="auto"
    min_delta : float, default=1e-4
    cooldown : int, default=0
    min_lr : float, default=0.0

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or value, naming it.

    Notes
    -----
    When ``monitor`` is missing from an epoch's logs, a RuntimeWarning lists the logged
    keys and the epoch is skipped. Adds "learning_rate" (the epoch's rate, before any
    reduction) to the logs, as Keras: callbacks after it and the History see it.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        where = "ReduceLROnPlateau"
        super().__init__(monitor, mode, min_delta)
        factor = finite_float(where, "factor", factor)
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}.")
        self.factor = factor
        self.patience = positive_int(where, "patience", patience, allow_zero=True)
        self.verbose = verbosity(where, verbose)
        self.cooldown = positive_int(where, "cooldown", cooldown, allow_zero=True)
        self.min_lr = non_negative_float(where, "min_lr", min_lr)

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter, self.best = 0, 0, self._worst()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # as Keras: the epoch's rate, before any reduction below
            logs["learning_rate"] = self.model.optimizer.current_learning_rate()
        value = self._value(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(value, self.best):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                optimizer = self.model.optimizer
                old = optimizer.current_learning_rate()
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    set_learning_rate(optimizer, new, "ReduceLROnPlateau")
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau learning rate -> {new:.6g}")
                self.cooldown_counter, self.wait = self.cooldown, 0


def set_learning_rate(optimizer, value, where):
    """Replace a float learning rate (a schedule cannot be overridden by a callback)."""
    if not isinstance(optimizer.learning_rate, float):
        raise TypeError(f"{where}: the optimizer's learning_rate is a schedule "
                        f"({type(optimizer.learning_rate).__name__}); use a float learning rate "
                        "to change it from a callback.")
    optimizer.learning_rate = non_negative_float(where, "learning_rate", value)


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> float``, epoch 0-based, lr the current rate.
    verbose : int or bool, default=0

    Raises
    ------
    TypeError
        ``schedule`` is not callable.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function "
                            f"schedule(epoch, lr), got {type(schedule).__name__} {schedule!r}.")
        self.schedule = schedule
        self.verbose = verbosity("LearningRateScheduler", verbose)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        raw = self.schedule(epoch, optimizer.current_learning_rate())
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise TypeError(f"LearningRateScheduler: schedule(epoch, lr) must return a number, "
                            f"got {type(raw).__name__} {raw!r} for epoch {epoch}.") from None
        set_learning_rate(optimizer, value, "LearningRateScheduler")
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler learning rate -> {value:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.current_learning_rate()


def _field_name(field):
    """'val_loss' for the field 'val_loss', 'a' for 'a.b' or 'a[0]'."""
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def _check_format(where, argument, path):
    """Refuse a file name template that could not be filled at an epoch's end.

    Only named fields (``{epoch:02d}``, ``{val_loss:.3f}``) can be filled; a trial
    fill (epoch 1, every other field 0.0) catches bad format specs now rather than
    after the first epoch has trained.
    """
    literal = "double the braces ({{ and }}) for literal ones"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as error:
        raise ValueError(f"{where}: {argument} {path!r} is not a valid file name template "
                         f"({error}); {literal}.") from None
    for field in fields:
        if not _field_name(field) or _field_name(field).isdigit():
            raise ValueError(f"{where}: {argument} {path!r} has the positional field "
                             f"{{{field}}}; only named fields such as {{epoch:02d}} or "
                             f"{{val_loss:.3f}} can be filled; {literal}.")
    trial = {_field_name(f): 0.0 for f in fields}
    trial["epoch"] = 1
    try:
        path.format(**trial)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(f"{where}: {argument} {path!r} cannot be filled: "
                         f"{type(error).__name__}: {error}. Fields are the 1-based epoch "
                         "(an int) and logged quantities (floats).") from None


class ModelCheckpoint(_Monitor):
    """Save the model (``Sequential.save``) after epochs.

    Parameters
    ----------
    filepath : str or path-like
        May hold named format fields: "ckpt-{epoch:02d}-{val_loss:.3f}.npz" (epoch is
        1-based, the others logged quantities). A missing directory is created at
        the first save, as Keras does.
    monitor : str, default="val_loss"
    verbose : int or bool, default=0
    save_best_only : bool, default=False
        Only overwrite when ``monitor`` improved.
    mode : {"auto", "min", "max"}, default="auto"

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or value, or a ``filepath`` template that
        could not be filled (a positional field such as ``{1}``, a bad format spec).

    Notes
    -----
    With ``save_best_only``, an epoch that does not log ``monitor`` warns
    (RuntimeWarning, listing the logged keys) and saves nothing.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto"):
        where = "ModelCheckpoint"
        filepath = file_path(where, "filepath", filepath)
        _check_format(where, "filepath", filepath)
        super().__init__(monitor, mode, 0.0)
        self.filepath = filepath
        self.verbose = verbosity(where, verbose)
        self.save_best_only = boolean(where, "save_best_only", save_best_only)
        self.best = self._worst()

    def on_train_begin(self, logs=None):
        # A model no file can hold (a custom optimizer class...) is refused before
        # any epoch trains, not at the first save.
        check_savable(self.model, "ModelCheckpoint")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not self._improves(value, self.best):
                return
            self.best = value
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {error}, which "
                           f"epoch {epoch + 1} did not log; available: {sorted(logs)}."
                           ) from None
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


class BackupAndRestore(Callback):
    """Resume a killed run: back up the whole training state every epoch, restore it on start.

    On ``fit`` start, if ``backup_dir`` holds a backup, the model's weights, optimizer
    state, RNG and epoch counter are restored and training continues from the epoch
    after the last one completed, bitwise as if never interrupted. The backup is
    deleted when training ends normally (``delete_checkpoint=True``).

    Parameters
    ----------
    backup_dir : str or path-like
        Created if missing.
    delete_checkpoint : bool, default=True

    Raises
    ------
    ValueError
        At ``fit`` start, a backup of a different model: other layer widths,
        activations, dtype, loss or optimizer class.
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__()
        self.backup_dir = file_path("BackupAndRestore", "backup_dir", backup_dir)
        self.delete_checkpoint = boolean("BackupAndRestore", "delete_checkpoint",
                                         delete_checkpoint)

    @property
    def path(self):
        return os.path.join(self.backup_dir, "backup.npz")

    def on_train_begin(self, logs=None):
        check_savable(self.model, "BackupAndRestore")
        if os.path.exists(self.path):
            self.model._restore_training_state(self.path)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(self.path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.path):
            os.remove(self.path)


class CSVLogger(Callback):
    """Stream one row per epoch (epoch, then every logged quantity) to a CSV file.

    Parameters
    ----------
    filename : str or path-like
        Its directory must exist.
    separator : str, default=","
        One character.
    append : bool, default=False
        Add to an existing file instead of overwriting it.

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or value, or a directory that does not exist.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        where = "CSVLogger"
        filename = file_path(where, "filename", filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise TypeError(f"{where}: separator must be a one-character string, got "
                            f"{type(separator).__name__} {separator!r}.")
        append = boolean(where, "append", append)
        directory = os.path.dirname(os.path.abspath(filename))
        if not os.path.isdir(directory):
            raise ValueError(f"{where}: filename {filename!r} is in a directory that does "
                             f"not exist ({directory!r}); create it first.")
        if os.path.isdir(filename):
            raise ValueError(f"{where}: filename {filename!r} is a directory; give a file "
                             "name.")
        self.filename, self.separator, self.append = filename, separator, append

    def on_train_begin(self, logs=None):
        exists = (self.append and os.path.exists(self.filename)
                  and os.path.getsize(self.filename) > 0)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._keys = None
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, ["epoch"] + self._keys,
                                          delimiter=self.separator)
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


class TerminateOnNaN(Callback):
    """Stop training as soon as the epoch loss is NaN or infinite."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


_LAMBDA_HOOKS = {"on_epoch_begin": ("epoch", "logs"), "on_epoch_end": ("epoch", "logs"),
                 "on_train_begin": ("logs",), "on_train_end": ("logs",)}


def _positional_count(where, name, function, wanted):
    """How many of the ``wanted`` positional arguments ``function`` takes.

    Keras calls hooks with all of them (``on_train_end(logs)``,
    ``on_epoch_begin(epoch, logs)``); shorter signatures written for earlier fastnn
    releases (``lambda epoch: ...``) keep working with the leading ones.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have none: assume Keras's
        return len(wanted)
    for count in range(len(wanted), -1, -1):
        try:
            signature.bind(*wanted[:count])
        except TypeError:
            continue
        return count
    raise TypeError(f"{where}: {name} must accept ({', '.join(wanted)}), as Keras calls it; "
                    f"got a function with signature {signature}.")


class LambdaCallback(Callback):
    """A callback from plain functions, called as Keras calls them.

    Parameters
    ----------
    on_epoch_begin, on_epoch_end : callable, optional
        ``f(epoch, logs)``; epoch 0-based, logs a dict (empty at an epoch's start).
    on_train_begin, on_train_end : callable, optional
        ``f(logs)``; ``on_train_end`` gets the last epoch's logs.

    Raises
    ------
    TypeError
        A hook that is not callable, or cannot take its arguments.

    Examples
    --------
    >>> from fastnn.callbacks import LambdaCallback
    >>> log = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None):
        super().__init__()
        given = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end}
        hooks = {}
        for name, function in given.items():
            callable_or_none("LambdaCallback", name, function)
            if function is not None:
                count = _positional_count("LambdaCallback", name, function, _LAMBDA_HOOKS[name])
                hooks[name] = (function, count)
        self._hooks = hooks
        self._last_logs = {}

    def _call(self, name, *args):
        if name in self._hooks:
            function, count = self._hooks[name]
            function(*args[:count])

    def on_train_begin(self, logs=None):
        self._last_logs = {}
        self._call("on_train_begin", {} if logs is None else logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, {} if logs is None else logs)

    def on_epoch_end(self, epoch, logs=None):
        self._last_logs = {} if logs is None else logs
        self._call("on_epoch_end", epoch, self._last_logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", self._last_logs if logs is None else logs)
