"""Learning-rate schedules: the learning rate as a function of the optimizer step.

"As we train we may choose to make this step smaller and smaller" (the primer).
Each schedule is evaluated for a whole epoch's steps at once (``rates(steps)``),
so the fused epoch kernel reads one precomputed rate per mini-batch.
"""
import numpy as np

from ._validation import finite_float, non_negative_float, positive_int


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
        self.staircase = bool(staircase)

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
        self.staircase = bool(staircase)

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
    """Cosine decay from initial_learning_rate to alpha * initial over decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate = non_negative_float(
            "CosineDecay", "initial_learning_rate", initial_learning_rate)
        self.decay_steps = positive_int("CosineDecay", "decay_steps", decay_steps)
        self.alpha = non_negative_float("CosineDecay", "alpha", alpha)

    def rates(self, steps):
        progress = np.minimum(steps, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + np.cos(np.pi * progress))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)


SCHEDULES = {cls.__name__: cls for cls in
             (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule):
    return {"name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(spec):
    return SCHEDULES[spec["name"]](**spec["config"])
