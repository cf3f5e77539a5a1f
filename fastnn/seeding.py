"""One global seed for models created without their own (Keras's ``set_random_seed``)."""
import numpy as np

from ._validation import positive_int

_global = {"sequence": None}


def set_random_seed(seed):
    """Make every model created from now on with ``seed=None`` reproducible.

    Each such model draws its own seed, in creation order, from ``seed``, so a script
    that never passes ``seed=`` (as Keras examples do) gives the same run every time.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Examples
    --------
    >>> import fastnn
    >>> fastnn.set_random_seed(0)
    """
    _global["sequence"] = np.random.SeedSequence(
        positive_int("set_random_seed", "seed", seed, allow_zero=True))


def generator(seed):
    """The NumPy Generator of a new model: from ``seed``, else the global seed, else fresh."""
    if seed is not None:
        return np.random.default_rng(seed)
    if _global["sequence"] is not None:
        return np.random.default_rng(_global["sequence"].spawn(1)[0])
    return np.random.default_rng()
