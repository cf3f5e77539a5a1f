"""Weight initializers (Keras names and defaults).

Each initializer draws a kernel in Keras's (n_in, n_out) orientation from the
model's NumPy ``Generator``; ``fan_in = n_in``, ``fan_out = n_out``.
"""
import numpy as np

from ._validation import choice, finite_float, non_negative_float

# std of a unit normal truncated to [-2, 2]; variance-scaling divides by it, as Keras.
_TRUNCATED_STD = 0.87962566103423978


def _truncated_normal(rng, shape, mean, stddev):
    """Normal draws, redrawing every value beyond two standard deviations."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return mean + stddev * values


_MODES = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "fan_avg"}
_DISTRIBUTIONS = {"truncated_normal": "truncated_normal",
                  "untruncated_normal": "untruncated_normal", "normal": "truncated_normal",
                  "uniform": "uniform"}


class Initializer:
    """Base class: ``init(shape, rng)`` returns a float64 array of ``shape``."""

    def __call__(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        """Constructor arguments, JSON-serializable."""
        return dict(vars(self))


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every value ``value``."""

    def __init__(self, value=0.0):
        self.value = finite_float("Constant", "value", value)

    def __call__(self, shape, rng):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    """N(mean, stddev^2)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = finite_float("RandomNormal", "mean", mean)
        self.stddev = non_negative_float("RandomNormal", "stddev", stddev)

    def __call__(self, shape, rng):
        return self.mean + self.stddev * rng.standard_normal(shape)


class RandomUniform(Initializer):
    """U(minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval = finite_float("RandomUniform", "minval", minval)
        self.maxval = finite_float("RandomUniform", "maxval", maxval)
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval must be <= maxval, got minval={minval} "
                             f"and maxval={maxval}.")

    def __call__(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class TruncatedNormal(Initializer):
    """N(mean, stddev^2) with draws beyond 2 stddev redrawn (tf.truncated_normal)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = finite_float("TruncatedNormal", "mean", mean)
        self.stddev = non_negative_float("TruncatedNormal", "stddev", stddev)

    def __call__(self, shape, rng):
        return _truncated_normal(rng, shape, self.mean, self.stddev)


class VarianceScaling(Initializer):
    """Variance ``scale / n`` with n = fan_in, fan_out or their mean (Keras).

    distribution: "truncated_normal", "untruncated_normal" or "uniform".
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        self.scale = non_negative_float("VarianceScaling", "scale", scale)
        if self.scale == 0:
            raise ValueError("VarianceScaling: scale must be a positive number, got 0.0.")
        self.mode = choice("VarianceScaling", "mode", mode, _MODES)
        self.distribution = choice("VarianceScaling", "distribution", distribution,
                                   _DISTRIBUTIONS)

    def __call__(self, shape, rng):
        fan_in, fan_out = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], shape[0])
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return np.sqrt(variance) * rng.standard_normal(shape)
        return _truncated_normal(rng, shape, 0.0, np.sqrt(variance) / _TRUNCATED_STD)


class GlorotUniform(VarianceScaling):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)). Keras's default kernel initializer."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")


class GlorotNormal(VarianceScaling):
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")


class HeUniform(VarianceScaling):
    """U(-l, l), l = sqrt(6 / fan_in)."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")


class HeNormal(VarianceScaling):
    """Truncated normal, stddev sqrt(2 / fan_in)."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")


class LecunNormal(VarianceScaling):
    """Truncated normal, stddev sqrt(1 / fan_in)."""

    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")


INITIALIZERS = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_normal": LecunNormal,
}
_CLASS_NAMES = {cls: name for name, cls in INITIALIZERS.items()}


def get(identifier, where="Dense", argument="initializer"):
    """An Initializer from a name or an Initializer instance; None gives None (as Keras).

    Raises
    ------
    TypeError
        ``identifier`` is neither a string, an Initializer nor None.
    ValueError
        An unknown name.
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    return choice(where, argument, identifier, INITIALIZERS)()


def serialize(initializer):
    """(name, config) for saving."""
    return {"name": _CLASS_NAMES[type(initializer)], "config": initializer.get_config()}


def deserialize(spec):
    """Inverse of ``serialize``."""
    cls = INITIALIZERS[spec["name"]]
    initializer = cls.__new__(cls)
    initializer.__dict__.update(spec["config"])
    return initializer
