"""Arrays ready to train on: an image set flattened and scaled, or seeded synthetic data.

What the ``fastnn`` command trains and benchmarks on: 784 features in [0, 1] and
10 classes, from Fashion-MNIST, MNIST or a synthetic stand-in of the same shape.

>>> from fastnn.datasets.arrays import load_arrays
>>> (x, y), (x_test, y_test) = load_arrays("synthetic", samples=600, seed=3)
>>> x.shape, x_test.shape
((600, 784), (100, 784))
"""
import numpy as np

from . import fashion_mnist, mnist

LOADERS = {"fashion_mnist": fashion_mnist, "mnist": mnist}
TITLES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "synthetic": "synthetic data"}
N_FEATURES, N_CLASSES = 784, 10


def synthetic_data(n_train, seed, dtype):
    """Seeded, learnable 784-feature, 10-class data with values in [0, 1].

    Each sample is half its class's random template, half uniform noise.

    Parameters
    ----------
    n_train : int
        Training samples; the test set has ``max(n_train // 6, 100)``.
    seed : int or None
    dtype : str

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        x (n, 784) of ``dtype``, y (n,) uint8.
    """
    rng = np.random.default_rng(seed)
    templates = rng.random((N_CLASSES, N_FEATURES), dtype=np.float32)

    def draw(n):
        y = rng.integers(0, N_CLASSES, n).astype(np.uint8)
        noise = rng.random((n, N_FEATURES), dtype=np.float32)
        return (0.5 * templates[y] + 0.5 * noise).astype(dtype), y

    return draw(n_train), draw(max(n_train // 6, 100))


def flatten_images(images, dtype):
    """uint8 images (n, 28, 28) -> (n, 784) of ``dtype`` scaled to [0, 1].

    Parameters
    ----------
    images : numpy.ndarray
        (n, 28, 28) uint8.
    dtype : str

    Returns
    -------
    numpy.ndarray
    """
    x = images.reshape(images.shape[0], -1).astype(dtype)
    x /= 255
    return x


def load_arrays(dataset="fashion_mnist", *, path=None, download=True, samples=None, seed=0,
                dtype="float32", synthetic_samples=10000):
    """The (train, test) arrays of ``dataset``, flattened and scaled to [0, 1].

    Parameters
    ----------
    dataset : {"fashion_mnist", "mnist", "synthetic"}, default="fashion_mnist"
    path : str, optional
        Directory holding the four IDX files (the loaders' ``path``).
    download : bool, default=True
        Download the files when they are not found.
    samples : int, optional
        Keep the first ``samples`` training samples (synthetic: draw that many).
    seed : int or None, default=0
        Seeds the synthetic data.
    dtype : str, default="float32"
    synthetic_samples : int, default=10000
        Training samples of synthetic data when ``samples`` is None.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)

    Raises
    ------
    ValueError
        For an unknown ``dataset``.
    fastnn.datasets.DatasetNotFoundError
        The loader's message: where it looked and how to provide the files.
    """
    if dataset == "synthetic":
        return synthetic_data(samples or synthetic_samples, seed, dtype)
    if dataset not in LOADERS:
        raise ValueError(f"load_arrays: unknown dataset {dataset!r}. Expected one of "
                         f"{', '.join(map(repr, [*LOADERS, 'synthetic']))}.")
    (x, y), (x_test, y_test) = LOADERS[dataset].load_data(path=path, download=download)
    if samples is not None:
        x, y = x[:samples], y[:samples]
    return (flatten_images(x, dtype), y), (flatten_images(x_test, dtype), y_test)
