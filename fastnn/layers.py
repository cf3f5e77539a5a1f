"""Layers are configuration only: the model lays their weights out and the kernels compute."""
import numbers

import numpy as np

from . import initializers, regularizers
from ._validation import boolean, choice, positive_int
from .registries import ACTIVATIONS, ACTIVATION_NAMES


def _input_dim(input_dim, input_shape):
    """input_dim from either spelling (Keras's ``input_shape=(n,)`` or ``input_dim=n``)."""
    if input_shape is None:
        return input_dim
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 1:
        raise ValueError(f"Dense: input_shape must be a 1-tuple (features,) for a dense "
                         f"layer, got {input_shape!r}; flatten inputs to (samples, features).")
    if input_dim is not None and input_dim != input_shape[0]:
        raise ValueError(f"Dense: input_dim={input_dim} and input_shape={tuple(input_shape)} "
                         "disagree; pass one of them.")
    return input_shape[0]


def _units(units):
    """A positive int; anything else is a ValueError, as Keras 3's Dense raises."""
    if isinstance(units, (bool, np.bool_)) or not isinstance(units, numbers.Integral):
        raise ValueError(f"Dense: units must be a positive int, got {type(units).__name__} "
                         f"{units!r}.")
    return positive_int("Dense", "units", units)


def _initializer(identifier, argument):
    """An Initializer; None is Keras 3's ``add_weight`` default for a float weight,
    glorot_uniform (for the bias too)."""
    initializer = initializers.get(identifier, "Dense", argument)
    return initializers.GlorotUniform() if initializer is None else initializer


class Dense:
    """A fully connected layer: ``output = activation(input @ W + b)``.

    Parameters
    ----------
    units : int
        Number of output units (> 0). Anything but a positive int raises ValueError.
    activation : str or None, default=None
        One of "linear" (None), "sigmoid", "tanh", "relu", "leaky_relu", "softmax".
    use_bias : bool, default=True
    kernel_initializer : str, Initializer or None, default="glorot_uniform"
    bias_initializer : str, Initializer or None, default="zeros"
        None means glorot_uniform, Keras 3's default for a float weight.
    kernel_regularizer : None, "l2" or regularizers.L2, default=None
    input_dim : int, optional
        Number of input features; needed on the first layer unless ``fit`` infers it.
    input_shape : tuple of one int, optional
        Keras's spelling of the same: ``input_shape=(784,)`` is ``input_dim=784``.

    Examples
    --------
    >>> Dense(64, activation="relu", input_dim=784).units
    64
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, input_dim=None, input_shape=None):
        self.units = _units(units)
        input_dim = _input_dim(input_dim, input_shape)
        name = "linear" if activation is None else activation
        self.activation_code = choice("Dense", "activation", name, ACTIVATIONS)
        self.use_bias = boolean("Dense", "use_bias", use_bias)
        self.kernel_initializer = _initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = _initializer(bias_initializer, "bias_initializer")
        self.l2 = regularizers.strength(kernel_regularizer)
        self.input_dim = None if input_dim is None else positive_int("Dense", "input_dim",
                                                                     input_dim)

    @property
    def activation(self):
        """The activation's name."""
        return ACTIVATION_NAMES[self.activation_code]

    def get_config(self):
        """JSON-serializable constructor arguments."""
        return {
            "units": self.units, "activation": self.activation, "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": {"l2": self.l2} if self.l2 else None,
            "input_dim": self.input_dim,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel_initializer"] = initializers.deserialize(config["kernel_initializer"])
        config["bias_initializer"] = initializers.deserialize(config["bias_initializer"])
        if config["kernel_regularizer"] is not None:
            config["kernel_regularizer"] = regularizers.L2(**config["kernel_regularizer"])
        return cls(**config)

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r})"


_MASK64 = (1 << 64) - 1


def _splitmix64(z):
    """splitmix64's finalizer on a Python int (mod 2^64)."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def dropout_key(seed, index):
    """The mask key of a model's ``index``-th Dropout layer from a seed (a
    non-negative int): distinct per layer, so consecutive Dropouts draw apart."""
    return _splitmix64(_splitmix64(seed) + 0x9E3779B97F4A7C15 * (index + 1))


class Dropout:
    """Inverted dropout: during ``fit`` each value of the previous layer's output (of
    the inputs, when first) is set to 0 with probability ``rate`` and the others are
    scaled by ``1 / (1 - rate)``; ``predict`` and ``evaluate`` pass values through.

    Not a weight layer: the model keeps it as a rate on the output of the Dense layer
    before it, applied inside the compiled training kernels. The mask is a hash of
    (seed, training step, row of the mini-batch, unit), so a fit is bitwise
    reproducible from the model's seed, resumes bitwise, and does not depend on the
    thread count. Consecutive Dropout layers compose. Dropout must be followed by a
    Dense layer, and not follow a softmax one.

    Parameters
    ----------
    rate : float
        Fraction of the values to drop, in [0, 1); 0 changes nothing.
    noise_shape : tuple of two (None or int), optional
        Keras's shape of the mask, broadcast over (batch, units): ``(None, 1)`` drops
        whole rows' values together per row (one draw per sample), ``(1, None)`` the
        same units in every row of a mini-batch. Entries are None, 1, or (units
        axis) the layer's width.
    seed : int, optional
        A non-negative int: this layer's masks come from it instead of the model's seed.

    Examples
    --------
    >>> from fastnn import Sequential, Dense, Dropout
    >>> model = Sequential([Dense(64, activation="relu", input_dim=784), Dropout(0.2),
    ...                     Dense(10, activation="softmax")], seed=0)
    >>> model.layers[0].units, model.dropouts[0].rate
    (64, 0.2)
    """

    def __init__(self, rate, noise_shape=None, seed=None):
        self.rate = _rate(rate)
        self.noise_shape = _noise_shape(noise_shape)
        self.seed = None if seed is None else positive_int("Dropout", "seed", seed,
                                                           allow_zero=True)

    @property
    def mode(self):
        """The kernels' mask mode: bit 0 rows share a mask, bit 1 units share one."""
        if self.noise_shape is None:
            return 0
        return int(self.noise_shape[0] == 1) | (int(self.noise_shape[1] == 1) << 1)

    def get_config(self):
        """JSON-serializable constructor arguments."""
        return {"rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("noise_shape") is not None:
            config["noise_shape"] = tuple(config["noise_shape"])
        return cls(**config)

    def __repr__(self):
        return f"Dropout({self.rate})"


def _rate(rate):
    """A float in [0, 1), as Keras 3's Dropout requires."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"Dropout: rate must be a float in [0, 1), got {type(rate).__name__} "
                        f"{rate!r}.")
    if not 0 <= rate < 1:
        raise ValueError(f"Dropout: rate must be a float in [0, 1), got {rate!r}; rate 1 would "
                         "drop every value.")
    return float(rate)


def _noise_shape(noise_shape):
    """None, or a 2-tuple: batch axis None or 1, units axis None or a positive int."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (tuple, list)) or len(noise_shape) != 2:
        raise ValueError(f"Dropout: noise_shape must be None or a 2-tuple (batch, units) for "
                         f"dense inputs, got {noise_shape!r}.")
    batch, units = noise_shape
    for axis, value in (("batch", batch), ("units", units)):
        if value is not None and (isinstance(value, (bool, np.bool_))
                                  or not isinstance(value, numbers.Integral) or value < 1):
            raise ValueError(f"Dropout: noise_shape's {axis} entry must be None or a positive "
                             f"int, got {value!r} in {tuple(noise_shape)!r}.")
    if batch not in (None, 1):
        raise ValueError(f"Dropout: noise_shape's batch entry must be None (a mask per row) or "
                         f"1 (one mask for the whole mini-batch), got {batch!r}; the last "
                         "mini-batch may be smaller than the others.")
    return (batch, None if units is None else int(units))
