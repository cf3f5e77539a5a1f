"""What train and bench share: the usage error, the network and optimizer they build,
the data they load, the thread limit, and the words of their headers."""
import contextlib

from threadpoolctl import threadpool_limits

from ..datasets.arrays import N_CLASSES, N_FEATURES, TITLES, load_arrays
from ..layers import Dense
from ..model import Sequential
from ..optimizers import OPTIMIZERS

LOSS = "sparse_categorical_crossentropy"


class UsageError(ValueError):
    """A combination of options the command cannot run."""


def load_data(args, synthetic_samples):
    """The (train, test) arrays ``args`` asks for, flattened and scaled.

    Parameters
    ----------
    args : argparse.Namespace
        Uses dataset, data_dir, no_download, synthetic, samples, seed, dtype.
    synthetic_samples : int
        Training samples of synthetic data when ``args.samples`` is None.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)

    Raises
    ------
    fastnn.datasets.DatasetNotFoundError
        The loader's message: where it looked and how to provide the files.
    """
    return load_arrays("synthetic" if args.synthetic else args.dataset, path=args.data_dir,
                       download=not args.no_download, samples=args.samples, seed=args.seed,
                       dtype=args.dtype, synthetic_samples=synthetic_samples)


def data_title(args):
    return TITLES["synthetic" if args.synthetic else args.dataset]


def build_model(hidden, activation, dtype, seed):
    """784 -> hidden... -> 10 softmax, as a fastnn Sequential (not compiled).

    Parameters
    ----------
    hidden : tuple of int
    activation : str
        Hidden layers' activation.
    dtype : str
    seed : int or None

    Returns
    -------
    Sequential
    """
    model = Sequential(dtype=dtype, seed=seed)
    inputs = N_FEATURES
    for units in hidden:
        model.add(Dense(units, activation=activation, input_dim=inputs))
        inputs = units
    model.add(Dense(N_CLASSES, activation="softmax", input_dim=inputs))
    return model


def optimizer_settings(name, lr, momentum):
    """Keyword arguments for the optimizer ``name`` from --lr and --momentum.

    Raises
    ------
    UsageError
        When --momentum is given for adam.
    """
    settings = {} if lr is None else {"learning_rate": lr}
    if momentum is not None:
        if name == "adam":
            raise UsageError("--momentum applies to sgd and rmsprop, not adam")
        settings["momentum"] = momentum
    return settings


def make_optimizer(name, lr=None, momentum=None):
    """A fresh fastnn optimizer; the constructor checks the values (ValueError)."""
    return OPTIMIZERS[name](**optimizer_settings(name, lr, momentum))


@contextlib.contextmanager
def thread_limit(threads):
    """Limit BLAS/OpenMP pools (threadpoolctl) and Numba to ``threads`` inside the block.

    ``None`` changes nothing. Raises UsageError above Numba's thread count.
    """
    if threads is None:
        yield
        return
    import numba
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise UsageError(f"--threads {threads} exceeds the {numba.config.NUMBA_NUM_THREADS} "
                         "threads Numba started with (NUMBA_NUM_THREADS)")
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(previous)


def architecture(hidden, activation):
    return (f"{N_FEATURES}-{'-'.join(map(str, hidden))}-{N_CLASSES} "
            f"({activation} hidden, softmax output)")


def plural(count, noun):
    return f"{count} {noun}" + ("" if count == 1 else "s")


def optimizer_text(optimizer):
    text = f"{type(optimizer).__name__} (learning_rate {optimizer.learning_rate:g}"
    momentum = getattr(optimizer, "momentum", 0.0)
    return text + (f", momentum {momentum:g})" if momentum else ")")
