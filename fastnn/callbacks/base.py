"""The ``Callback`` base class, the ``History`` every fit records, and
``LambdaCallback`` for hooks written as plain functions."""
import inspect

import numpy as np

from .._validation import callable_or_none


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
