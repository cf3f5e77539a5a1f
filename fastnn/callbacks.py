"""Callbacks: Python hooks run between epochs (never inside the fused epoch kernel)."""
import csv
import math
import os

import numpy as np

from ._validation import non_negative_float


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
                              "pip install 'fastnn[plot]'") from error
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
        self.monitor = monitor
        self.mode = _mode_better(mode, monitor, type(self).__name__)
        self.min_delta = abs(float(min_delta))

    def _value(self, logs):
        if self.monitor not in (logs or {}):
            raise KeyError(f"{type(self).__name__}: monitor {self.monitor!r} is not logged; "
                           f"available: {sorted(logs or {})}. Use validation_data or "
                           "validation_split for 'val_' quantities.")
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
    mode : {"auto", "min", "max"}, default="auto"
    baseline : float, optional
        Training stops if the quantity does not beat it within ``patience`` epochs.
    restore_best_weights : bool, default=False
        Put back the weights of the best epoch when stopping (or at the end).
    start_from_epoch : int, default=0
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._worst() if self.baseline is None else float(self.baseline)
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        value = self._value(logs)
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
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
    patience : int, default=10
    mode : {"auto", "min", "max"}, default="auto"
    min_delta : float, default=1e-4
    cooldown : int, default=0
    min_lr : float, default=0.0
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}.")
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter, self.best = 0, 0, self._worst()

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
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
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

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


class ModelCheckpoint(_Monitor):
    """Save the model (``Sequential.save``) after epochs.

    Parameters
    ----------
    filepath : str or path
        May hold format fields: "ckpt-{epoch:02d}-{val_loss:.3f}.npz" (epoch is 1-based).
    monitor : str, default="val_loss"
    save_best_only : bool, default=False
        Only overwrite when ``monitor`` improved.
    mode : {"auto", "min", "max"}, default="auto"
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto"):
        super().__init__(monitor, mode, 0.0)
        self.filepath, self.verbose, self.save_best_only = (os.fspath(filepath), verbose,
                                                            save_best_only)
        self.best = self._worst()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._value(logs)
            if not self._improves(value, self.best):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


class BackupAndRestore(Callback):
    """Resume a killed run: back up the whole training state every epoch, restore it on start.

    On ``fit`` start, if ``backup_dir`` holds a backup, the model's weights, optimizer
    state, RNG and epoch counter are restored and training continues from the epoch
    after the last one completed, bitwise as if never interrupted. The backup is
    deleted when training ends normally (``delete_checkpoint=True``).
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__()
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint

    @property
    def path(self):
        return os.path.join(self.backup_dir, "backup.npz")

    def on_train_begin(self, logs=None):
        if os.path.exists(self.path):
            self.model._restore_training_state(self.path)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(self.path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.path):
            os.remove(self.path)


class CSVLogger(Callback):
    """Stream one row per epoch (epoch, then every logged quantity) to a CSV file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

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


class LambdaCallback(Callback):
    """A callback from plain functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None):
        super().__init__()
        for name, function in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                               ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if function is not None:
                setattr(self, name, function)
