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
