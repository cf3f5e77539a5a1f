"""The interface every peer has, and the settings all of them read from fastnn.

A peer trains what fastnn's benchmarks train: dense layers from given initial weights
``[W0, b0, W1, b1, ...]`` (W as (inputs, units), what ``Sequential.get_weights``
returns), one activation on the hidden layers, a softmax output, sparse categorical
cross-entropy (mean over the batch), and fastnn's SGD, Adam or RMSprop (Keras 3's
rules), on mini-batches of a fresh permutation each epoch, the last partial batch
included. Optimizer settings left out take the defaults of ``fastnn.optimizers``.
"""
import numpy as np
from fastnn.optimizers import OPTIMIZERS

LOSS = "sparse_categorical_crossentropy"
OPTIMIZER_NAMES = ("sgd", "adam", "rmsprop")
ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
LEAKY_SLOPE = 0.2               # keras.activations.leaky_relu's default, as fastnn's


def optimizer_config(optimizer, learning_rate=None, momentum=None):
    """Validated optimizer name, learning rate and momentum, fastnn's defaults filled in.

    Parameters
    ----------
    optimizer : {"sgd", "adam", "rmsprop"}
    learning_rate : float, optional
        Default: the fastnn optimizer's (sgd 0.01, adam and rmsprop 0.001).
    momentum : float, optional
        sgd and rmsprop only; default 0.

    Returns
    -------
    tuple
        ``(optimizer, learning_rate, momentum)``, the numbers as Python floats.

    Raises
    ------
    ValueError
        For an unknown optimizer, or a momentum given to adam.
    """
    if optimizer not in OPTIMIZER_NAMES:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZER_NAMES)}, "
                         f"got {optimizer!r}")
    if optimizer == "adam" and momentum:
        raise ValueError("momentum applies to sgd and rmsprop, not adam")
    defaults = OPTIMIZERS[optimizer]()
    rate = defaults.learning_rate if learning_rate is None else learning_rate
    return optimizer, float(rate), float(momentum or 0.0)


def optimizer_settings(optimizer, learning_rate=None, momentum=None):
    """Every setting of the update rule, by its Keras name, defaults from fastnn.

    Parameters
    ----------
    optimizer, learning_rate, momentum
        As :func:`optimizer_config` takes them.

    Returns
    -------
    dict
        ``learning_rate``, and ``momentum`` (sgd, rmsprop), ``beta_1``, ``beta_2``
        (adam), ``rho`` (rmsprop), ``epsilon`` (adam, rmsprop): Python floats.

    Examples
    --------
    >>> optimizer_settings("adam")
    {'learning_rate': 0.001, 'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-07}
    """
    optimizer, rate, momentum = optimizer_config(optimizer, learning_rate, momentum)
    defaults = OPTIMIZERS[optimizer]()
    settings = {"learning_rate": rate}
    if optimizer != "adam":
        settings["momentum"] = momentum
    for name in ("beta_1", "beta_2", "rho", "epsilon"):
        if hasattr(defaults, name):
            settings[name] = float(getattr(defaults, name))
    return settings


def layer_pairs(weights):
    """``[(W0, b0), (W1, b1), ...]`` from ``[W0, b0, W1, b1, ...]``; ValueError otherwise."""
    if len(weights) < 2 or len(weights) % 2:
        raise ValueError("weights must be [W0, b0, W1, b1, ...], "
                         f"got a list of {len(weights)} arrays")
    return list(zip(weights[0::2], weights[1::2]))


def rows(n, available):
    """``n`` checked against the ``available`` samples; ``None`` means all of them."""
    if n is None:
        return available
    if not 1 <= n <= available:
        raise ValueError(f"n must be in [1, {available}], got {n}")
    return n


class Peer:
    """One engine training the benchmark network: the interface of every peer.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``[W0, b0, W1, b1, ...]``, W as (inputs, units); their dtype (float32 or
        float64) is the peer's.
    x : numpy.ndarray
        Training inputs (n, inputs).
    y : numpy.ndarray
        Integer class labels (n,).
    optimizer : {"sgd", "adam", "rmsprop"}, default="sgd"
    learning_rate : float, optional
        Default: fastnn's (sgd 0.01, adam and rmsprop 0.001).
    momentum : float, optional
        sgd and rmsprop; default 0.
    activation : str, default="relu"
        The hidden layers' activation; the output is softmax.
    seed : int or None, default=0
        Seeds the NumPy generator that draws each epoch's permutation.

    Raises
    ------
    ValueError
        For settings the engine cannot run (:meth:`unsupported` says which), bad
        weights or an unknown optimizer.
    ImportError
        When the engine's library does not import (raised by the subclasses).

    Notes
    -----
    Subclasses set ``engine`` (a name for messages), ``optimizers`` and
    ``activations`` (what they can run), and implement :meth:`set_weights`,
    :meth:`get_weights`, :meth:`epoch` and :meth:`predict`; :meth:`prepare` has
    nothing to do unless the engine compiles for shapes.
    """

    engine = "peer"
    optimizers = OPTIMIZER_NAMES
    activations = ACTIVATIONS

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        self.settings = optimizer_settings(optimizer, learning_rate, momentum)
        reason = self.unsupported(optimizer, activation)
        if reason is not None:
            raise ValueError(f"{type(self).__name__}: {reason}")
        self.optimizer, self.activation, self.seed = optimizer, activation, seed
        self.dtype = np.dtype(layer_pairs(weights)[0][0].dtype)
        self.x, self.y = np.asarray(x, self.dtype), np.asarray(y)
        self._rng = np.random.default_rng(seed)

    @classmethod
    def unsupported(cls, optimizer, activation):
        """Why this engine cannot run ``optimizer`` with ``activation``, or None.

        Parameters
        ----------
        optimizer : str
        activation : str
            The hidden layers' activation.

        Returns
        -------
        str or None
        """
        if optimizer not in cls.optimizers:
            return f"{cls.engine} has no {optimizer} optimizer"
        if activation not in cls.activations:
            return f"{cls.engine} has no {activation} activation"
        return None

    def set_weights(self, weights):
        """Start again from ``weights``, with a fresh optimizer state.

        Parameters
        ----------
        weights : list of numpy.ndarray
            ``[W0, b0, W1, b1, ...]``.
        """
        raise NotImplementedError

    def get_weights(self):
        """The current weights as NumPy arrays, ``[W0, b0, W1, b1, ...]``.

        Returns
        -------
        list of numpy.ndarray
        """
        raise NotImplementedError

    def prepare(self, batch_size, n=None):
        """Compile whatever an epoch at this batch size on ``n`` samples needs (no
        training), so that a timed :meth:`epoch` measures training only.

        Parameters
        ----------
        batch_size : int
        n : int, optional
            Samples per epoch (the first ``n`` of ``x``); default all.
        """
        rows(n, len(self.x))

    def epoch(self, batch_size, n=None):
        """Train one epoch on a fresh permutation of the first ``n`` samples; return
        when the work is done, so the call can be timed.

        Parameters
        ----------
        batch_size : int
        n : int, optional
            Default: all samples.
        """
        raise NotImplementedError

    def predict(self, x):
        """Class probabilities.

        Parameters
        ----------
        x : numpy.ndarray
            (n, inputs).

        Returns
        -------
        numpy.ndarray
            (n, classes), rows summing to 1.
        """
        raise NotImplementedError

    def _permutation(self, n=None):
        return self._rng.permutation(rows(n, len(self.x)))
