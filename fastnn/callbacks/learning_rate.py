"""Callbacks that change the learning rate: ``ReduceLROnPlateau`` and
``LearningRateScheduler``."""
from .._validation import finite_float, non_negative_float, positive_int, verbosity
from ._monitor import _Monitor
from .base import Callback


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
