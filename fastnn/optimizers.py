"""Optimizers: configuration and per-epoch step sizes; the update runs in the kernels.

All three follow Keras 3's update rules, which equal PyTorch's for a constant
learning rate, so the same weights and batches give the same trajectory.
"""
import numbers

import numpy as np

from . import schedules
from ._validation import boolean, choice, non_negative_float
from .kernels import codes
from .kernels.optimizers import (H_BETA_1, H_BETA_2, H_CLIPNORM, H_CLIPVALUE, H_EPSILON,
                                 H_GLOBAL_CLIPNORM, H_MOMENTUM, H_ONE_MINUS_BETA_1,
                                 H_ONE_MINUS_BETA_2, H_ONE_MINUS_RHO, H_RHO, H_WEIGHT_DECAY,
                                 N_HYPER)

_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


def _momentum(where, value):
    """A momentum in [0, 1] (Keras 3's SGD range, 1 included); NaN and inf refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: momentum must be a number, got {type(value).__name__} "
                        f"{value!r}.")
    value = float(value)
    if not 0 <= value <= 1:
        raise ValueError(f"{where}: momentum must be in [0, 1], got {value}.")
    return value


class Optimizer:
    """Base class. ``learning_rate`` is a float or a ``fastnn.schedules`` schedule.

    ``iterations`` counts the updates applied so far (saved with the model).

    Every optimizer takes Keras 3's gradient clipping, at most one of:
    ``clipnorm`` (each weight matrix's and bias vector's gradient g becomes
    g * clipnorm / max(||g||, clipnorm)), ``global_clipnorm`` (all gradients scaled
    by clipnorm / max(||all||, clipnorm)) and ``clipvalue`` (each element clipped to
    [-clipvalue, clipvalue]). The L2 penalty's gradient is clipped with the rest;
    the decoupled weight decay is not. CPU only (compile refuses device="cuda").
    """

    code = None
    slots = 2  # rows of the model's optimizer state (3 for amsgrad, centered RMSprop)

    def __init__(self, learning_rate, weight_decay=0.0, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        where = type(self).__name__
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                 "global_clipnorm": global_clipnorm}
        given = {k: v for k, v in clips.items() if v is not None}
        if len(given) > 1:
            raise ValueError(f"{where}: only one of clipnorm, clipvalue and global_clipnorm "
                             f"can be set (as Keras); got {given}.")
        for name, value in given.items():
            if non_negative_float(where, name, value) == 0:
                raise ValueError(f"{where}: {name} must be > 0, got {value}.")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if v is None else float(v) for v in clips.values())
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self.learning_rate = learning_rate
        elif isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            self.learning_rate = non_negative_float(where, "learning_rate", learning_rate)
        else:
            raise TypeError(f"{where}: learning_rate must be a float or a fastnn.schedules "
                            f"schedule, got {type(learning_rate).__name__} {learning_rate!r}.")
        self.weight_decay = non_negative_float(where, "weight_decay", weight_decay)
        self.iterations = 0

    def learning_rates(self, first_step, count):
        """float64 learning rates of steps first_step .. first_step+count-1."""
        if isinstance(self.learning_rate, schedules.LearningRateSchedule):
            steps = np.arange(first_step, first_step + count, dtype=np.float64)
            return np.asarray(self.learning_rate.rates(steps), dtype=np.float64)
        rates = np.empty(count)
        rates.fill(self.learning_rate)  # np.full's Python wrapper costs 1 us a fit
        return rates

    def rates(self, count, dtype):
        """(count, 2) [lr, step_size] for the next ``count`` updates, model dtype
        (computed in float64, rounded once by the assignment)."""
        lr = self.learning_rates(self.iterations, count)
        rates = np.empty((count, 2), dtype=dtype)
        rates[:, 0] = lr
        rates[:, 1] = self._step_sizes(lr)
        return rates

    def _step_sizes(self, lr):
        return lr

    def hyper(self, dtype):
        """The (N_HYPER,) scalar array the update kernel reads."""
        values = np.zeros(N_HYPER, dtype=dtype)
        values[H_WEIGHT_DECAY] = self.weight_decay
        values[H_CLIPNORM] = self.clipnorm or 0.0
        values[H_CLIPVALUE] = self.clipvalue or 0.0
        values[H_GLOBAL_CLIPNORM] = self.global_clipnorm or 0.0
        return values

    @property
    def clips(self):
        """Whether a gradient clipping option is set."""
        return any(getattr(self, name) is not None for name in _CLIPS)

    def current_learning_rate(self):
        return float(self.learning_rates(self.iterations, 1)[0])

    def get_config(self):
        config = {k: v for k, v in vars(self).items() if k != "iterations"}
        for option in ("amsgrad", "centered"):  # only when set: older files lack them
            if config.get(option) is False:
                del config[option]
        for option in _CLIPS:
            if config.get(option, 0) is None:
                del config[option]
        if isinstance(self.learning_rate, schedules.LearningRateSchedule):
            config["learning_rate"] = schedules.serialize(self.learning_rate)
        return config


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default=0.01
    momentum : float, default=0.0
        In [0, 1], as Keras 3 (1 keeps the whole velocity: no damping).
    nesterov : bool, default=False
    weight_decay : float, default=0.0
        Decoupled, as Keras 3: ``w -= learning_rate * weight_decay * w`` before the step.

    Notes
    -----
    Keras 3's rule (identical to PyTorch's for a constant learning rate)::

        velocity = momentum * velocity - learning_rate * g
        w = w + velocity                                   # nesterov=False
        w = w + momentum * velocity - learning_rate * g    # nesterov=True
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.momentum = _momentum("SGD", momentum)
        self.nesterov = boolean("SGD", "nesterov", nesterov)

    @property
    def code(self):
        return codes.SGD_NESTEROV if self.nesterov else codes.SGD

    def hyper(self, dtype):
        values = super().hyper(dtype)
        values[H_MOMENTUM] = self.momentum
        return values


class Adam(Optimizer):
    """Adam, in Keras 3's form (epsilon added outside the square root).

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default=0.001
    beta_1 : float, default=0.9
    beta_2 : float, default=0.999
    epsilon : float, default=1e-7
    weight_decay : float, default=0.0
        Decoupled: ``w -= learning_rate * weight_decay * w`` before the step (AdamW-like).
    amsgrad : bool, default=False
        Keras 3's AMSGrad: divide by the running maximum of v (a third state slot).

    Notes
    -----
    At step t = 1, 2, ...::

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        v_max = maximum(v_max, v); v = v_max            # amsgrad=True only
        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w = w - alpha * m / (sqrt(v) + epsilon)

    This equals PyTorch's Adam up to where epsilon enters (PyTorch divides by
    ``sqrt(v_hat) + eps``, i.e. an epsilon scaled by ``sqrt(1 - beta_2**t)``).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=0.0, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        where = type(self).__name__
        self.beta_1 = non_negative_float(where, "beta_1", beta_1, upper=1.0)
        self.beta_2 = non_negative_float(where, "beta_2", beta_2, upper=1.0)
        self.epsilon = non_negative_float(where, "epsilon", epsilon)
        self.amsgrad = boolean(where, "amsgrad", amsgrad)

    @property
    def code(self):
        return codes.ADAM_AMSGRAD if self.amsgrad else codes.ADAM

    @property
    def slots(self):
        return 3 if self.amsgrad else 2

    def _step_sizes(self, lr):
        t = np.arange(self.iterations + 1, self.iterations + 1 + lr.shape[0], dtype=np.float64)
        return lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def hyper(self, dtype):
        values = super().hyper(dtype)
        values[H_BETA_1], values[H_BETA_2], values[H_EPSILON] = (
            self.beta_1, self.beta_2, self.epsilon)
        # float64 differences, rounded once to the dtype by the assignment
        values[H_ONE_MINUS_BETA_1] = 1.0 - self.beta_1
        values[H_ONE_MINUS_BETA_2] = 1.0 - self.beta_2
        return values


class AdamW(Adam):
    """Adam with decoupled weight decay, on by default (Keras 3's ``AdamW``).

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default=0.001
    weight_decay : float, default=0.004
        Keras 3's default.
    beta_1 : float, default=0.9
    beta_2 : float, default=0.999
    epsilon : float, default=1e-7
    amsgrad : bool, default=False

    Notes
    -----
    Adam's rule (see ``Adam``) after the decay, at each step::

        w = w - (learning_rate * weight_decay) * w

    ``AdamW(wd)`` is ``Adam(weight_decay=wd)``; only the class name and the default
    differ, as in Keras. Saved models keep the name.

    Examples
    --------
    >>> AdamW().weight_decay
    0.004
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad,
                         clipnorm, clipvalue, global_clipnorm)


class RMSprop(Optimizer):
    """RMSprop in Keras 3's form, uncentered unless ``centered``.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default=0.001
    rho : float, default=0.9
    momentum : float, default=0.0
    epsilon : float, default=1e-7
    weight_decay : float, default=0.0
    centered : bool, default=False
        Divide by an estimate of the gradient's variance rather than its second
        moment (a third state slot, the mean gradient a).

    Notes
    -----
    ::

        s = rho * s + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g; s_used = s - a**2    # centered=True only
        step = learning_rate * g / sqrt(s_used + epsilon)
        velocity = momentum * velocity + step; w = w - velocity   # momentum > 0
        w = w - step                                             # momentum == 0
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 weight_decay=0.0, centered=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = non_negative_float("RMSprop", "rho", rho, upper=1.0)
        self.momentum = non_negative_float("RMSprop", "momentum", momentum, upper=1.0)
        self.epsilon = non_negative_float("RMSprop", "epsilon", epsilon)
        self.centered = boolean("RMSprop", "centered", centered)

    @property
    def code(self):
        return codes.RMSPROP_CENTERED if self.centered else codes.RMSPROP

    @property
    def slots(self):
        return 3 if self.centered else 2

    def hyper(self, dtype):
        values = super().hyper(dtype)
        values[H_RHO], values[H_MOMENTUM], values[H_EPSILON] = (
            self.rho, self.momentum, self.epsilon)
        values[H_ONE_MINUS_RHO] = 1.0 - self.rho  # float64, rounded once
        return values


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier):
    """An Optimizer from a name (Keras defaults) or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    return choice("compile", "optimizer", identifier, OPTIMIZERS)()


def serialize(optimizer):
    return {"name": type(optimizer).__name__.lower(), "config": optimizer.get_config(),
            "iterations": optimizer.iterations}


def deserialize(spec):
    config = dict(spec["config"])
    if isinstance(config.get("learning_rate"), dict):
        config["learning_rate"] = schedules.deserialize(config["learning_rate"])
    optimizer = OPTIMIZERS[spec["name"]](**config)
    optimizer.iterations = int(spec["iterations"])
    return optimizer
