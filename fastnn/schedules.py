"""Learning-rate schedules: the learning rate as a function of the optimizer step.

"As we train we may choose to make this step smaller and smaller" (the primer).
Each schedule is evaluated for a whole epoch's steps at once (``rates(steps)``),
so the fused epoch kernel reads one precomputed rate per mini-batch.
"""
import numpy as np

from ._validation import boolean, finite_float, non_negative_float, positive_int


class LearningRateSchedule:
    """Base class: ``schedule(step)`` for an int or an array of steps (0-based)."""

    def __call__(self, step):
        return self.rates(np.asarray(step, dtype=np.float64))

    def rates(self, steps):
        raise NotImplementedError

    def get_config(self):
        return dict(vars(self))


class ExponentialDecay(LearningRateSchedule):
    """lr = initial_learning_rate * decay_rate ** (step / decay_steps) (floored if staircase).

    Examples
    --------
    >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(10)
    array(0.05)
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = non_negative_float(
            "ExponentialDecay", "initial_learning_rate", initial_learning_rate)
        self.decay_steps = positive_int("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = non_negative_float("ExponentialDecay", "decay_rate", decay_rate)
        self.staircase = boolean("ExponentialDecay", "staircase", staircase)

    def rates(self, steps):
        p = steps / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p


class InverseTimeDecay(LearningRateSchedule):
    """lr = initial_learning_rate / (1 + decay_rate * step / decay_steps)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = non_negative_float(
            "InverseTimeDecay", "initial_learning_rate", initial_learning_rate)
        self.decay_steps = positive_int("InverseTimeDecay", "decay_steps", decay_steps)
        self.decay_rate = non_negative_float("InverseTimeDecay", "decay_rate", decay_rate)
        self.staircase = boolean("InverseTimeDecay", "staircase", staircase)

    def rates(self, steps):
        p = steps / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while boundaries[i-1] < step <= boundaries[i] (Keras's convention)."""

    def __init__(self, boundaries, values):
        where = "PiecewiseConstantDecay"
        for argument, sequence in (("boundaries", boundaries), ("values", values)):
            if isinstance(sequence, (str, bytes)) or not hasattr(sequence, "__len__"):
                raise TypeError(f"{where}: {argument} must be a list of numbers, got "
                                f"{type(sequence).__name__} {sequence!r}.")
        boundaries = [finite_float(where, f"boundaries[{i}]", v) for i, v in enumerate(boundaries)]
        values = [non_negative_float(where, f"values[{i}]", v) for i, v in enumerate(values)]
        if len(values) != len(boundaries) + 1:
            raise ValueError("PiecewiseConstantDecay: values must have exactly one more entry "
                             f"than boundaries, got {len(values)} values and "
                             f"{len(boundaries)} boundaries.")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {boundaries}.")
        self.boundaries = [float(b) for b in boundaries]
        self.values = [float(v) for v in values]

    def rates(self, steps):
        index = np.searchsorted(np.asarray(self.boundaries), steps, side="left")
        return np.asarray(self.values)[index]


class CosineDecay(LearningRateSchedule):
    """Cosine decay, after an optional linear warmup (Keras 3's ``CosineDecay``).

    Parameters
    ----------
    initial_learning_rate : float
    decay_steps : int
        Steps of the cosine part (> 0).
    alpha : float, default=0.0
        The floor, as a fraction of the rate the cosine starts from.
    warmup_target : float or None, default=None
        None: no warmup, the cosine starts from initial_learning_rate. Otherwise the
        rate rises linearly from initial_learning_rate to warmup_target over
        warmup_steps, and the cosine then starts from warmup_target.
    warmup_steps : int, default=0
        Read only with a warmup_target.

    Notes
    -----
    At step s (0-based), with d = decay_steps and w = warmup_steps::

        warmup_target is None:  lr = initial * ((1 - alpha) * c(min(s, d)) + alpha)
        s < w:                  lr = initial + (warmup_target - initial) * s / w
        otherwise:              lr = warmup_target * ((1 - alpha) * c(min(s - w, d)) + alpha)

    where c(k) = (1 + cos(pi * k / d)) / 2.

    Examples
    --------
    >>> CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)(2)
    array(0.5)
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None,
                 warmup_steps=0):
        where = "CosineDecay"
        self.initial_learning_rate = non_negative_float(where, "initial_learning_rate",
                                                        initial_learning_rate)
        self.decay_steps = positive_int(where, "decay_steps", decay_steps)
        self.alpha = non_negative_float(where, "alpha", alpha)
        self.warmup_target = (None if warmup_target is None else
                              non_negative_float(where, "warmup_target", warmup_target))
        self.warmup_steps = positive_int(where, "warmup_steps", warmup_steps, allow_zero=True)

    def _cosine(self, start, steps):
        progress = np.minimum(steps, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + np.cos(np.pi * progress))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def rates(self, steps):
        if self.warmup_target is None:
            return self._cosine(self.initial_learning_rate, steps)
        decayed = self._cosine(self.warmup_target, np.maximum(steps - self.warmup_steps, 0))
        if self.warmup_steps == 0:
            return decayed
        rising = self.initial_learning_rate + (
            self.warmup_target - self.initial_learning_rate) * (steps / self.warmup_steps)
        return np.where(steps < self.warmup_steps, rising, decayed)


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from initial_learning_rate to end_learning_rate (Keras 3).

    Parameters
    ----------
    initial_learning_rate : float
    decay_steps : int
        Steps to reach end_learning_rate (> 0).
    end_learning_rate : float, default=0.0001
    power : float, default=1.0
        1 is a straight line.
    cycle : bool, default=False
        Past decay_steps, stretch the decay to the next multiple of decay_steps
        instead of holding end_learning_rate.

    Notes
    -----
    At step s (0-based), with d = decay_steps::

        cycle=False: d_s = d and s' = min(s, d)
        cycle=True:  d_s = d * max(1, ceil(s / d)) and s' = s
        lr = (initial - end) * (1 - s' / d_s) ** power + end

    Examples
    --------
    >>> PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0)(5)
    array(0.0325)
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False):
        where = "PolynomialDecay"
        self.initial_learning_rate = non_negative_float(where, "initial_learning_rate",
                                                        initial_learning_rate)
        self.decay_steps = positive_int(where, "decay_steps", decay_steps)
        self.end_learning_rate = non_negative_float(where, "end_learning_rate",
                                                    end_learning_rate)
        self.power = non_negative_float(where, "power", power)
        self.cycle = boolean(where, "cycle", cycle)

    def rates(self, steps):
        if self.cycle:
            periods = np.maximum(np.ceil(steps / self.decay_steps), 1.0)
            fraction = steps / (self.decay_steps * periods)
        else:
            fraction = np.minimum(steps, self.decay_steps) / self.decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate)
                * (1 - fraction) ** self.power + self.end_learning_rate)


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR), Keras 3's ``CosineDecayRestarts``.

    Parameters
    ----------
    initial_learning_rate : float
    first_decay_steps : int
        Length of the first period (> 0).
    t_mul : float, default=2.0
        Each period is t_mul times as long as the one before (> 0).
    m_mul : float, default=1.0
        Each restart starts from m_mul times the previous period's peak.
    alpha : float, default=0.0
        The floor, as a fraction of initial_learning_rate (not scaled by m_mul).

    Notes
    -----
    At step s (0-based), with f = s / first_decay_steps, the period i and the fraction
    r done of it are::

        t_mul == 1:  i = floor(f);  r = f - i
        otherwise:   i = floor(log(1 - f * (1 - t_mul)) / log(t_mul))
                     r = (f - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i
        lr = initial * ((1 - alpha) * m_mul**i * (1 + cos(pi * r)) / 2 + alpha)

    Examples
    --------
    >>> CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)(20)
    array(0.25)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0):
        where = "CosineDecayRestarts"
        self.initial_learning_rate = non_negative_float(where, "initial_learning_rate",
                                                        initial_learning_rate)
        self.first_decay_steps = positive_int(where, "first_decay_steps", first_decay_steps)
        self.t_mul = non_negative_float(where, "t_mul", t_mul)
        if self.t_mul == 0:
            raise ValueError(f"{where}: t_mul must be a positive number, got 0.0.")
        self.m_mul = non_negative_float(where, "m_mul", m_mul)
        self.alpha = non_negative_float(where, "alpha", alpha)

    def rates(self, steps):
        done = steps / self.first_decay_steps
        if self.t_mul == 1.0:
            period = np.floor(done)
            fraction = done - period
        else:
            period = np.floor(np.log(1.0 - done * (1.0 - self.t_mul)) / np.log(self.t_mul))
            before = (1.0 - self.t_mul ** period) / (1.0 - self.t_mul)
            fraction = (done - before) / self.t_mul ** period
        cosine = 0.5 * self.m_mul ** period * (1.0 + np.cos(np.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)


SCHEDULES = {cls.__name__: cls for cls in
             (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay,
              PolynomialDecay, CosineDecayRestarts)}


def serialize(schedule):
    return {"name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(spec):
    return SCHEDULES[spec["name"]](**spec["config"])
