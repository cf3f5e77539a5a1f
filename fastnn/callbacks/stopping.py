"""Callbacks that stop training: ``EarlyStopping`` and ``TerminateOnNaN``."""
import numpy as np

from .._validation import boolean, finite_float, positive_int, verbosity
from ._monitor import _Monitor
from .base import Callback


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


class TerminateOnNaN(Callback):
    """Stop training as soon as the epoch loss is NaN or infinite."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss {loss}, terminating training")
            self.model.stop_training = True
