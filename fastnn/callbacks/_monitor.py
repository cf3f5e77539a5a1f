"""What the callbacks that watch one logged quantity share (``_Monitor``)."""
import math
import os
import sys
import warnings

from .._validation import finite_float
from .base import Callback

# fastnn's directory, not this subpackage's: fit's internals all live under it.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


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
