"""Deterministic data for the suite: Fashion-MNIST-shaped synthetic data, and the real
Fashion-MNIST when it is installed.

The synthetic images look like Fashion-MNIST to the engine: 784 features in [0, 1]
quantized to 1/255, a 2-pixel border that is always 0 (always-zero inputs are what
drive optimizer slots into denormals on the real data), 10 learnable classes. The same
(n, dtype, seed) gives the same arrays in every process and on every machine.
"""
from functools import lru_cache

import numpy as np

from .common import N_CLASSES, N_FEATURES

SIDE = 28
BORDER = 2


@lru_cache(maxsize=4)
def synthetic(n, dtype="float32", seed=0):
    """(x (n, 784) of ``dtype``, y (n,) int64 labels 0..9), cached: do not modify.

    Left writeable on purpose: Numba compiles read-only arrays as a separate type,
    which users' data would never hit.
    """
    rng = np.random.default_rng(seed)
    inner = SIDE - 2 * BORDER
    # One smooth prototype per class (a random low-frequency pattern).
    coarse = rng.random((N_CLASSES, 6, 6))
    prototypes = np.kron(coarse, np.ones((4, 4)))[:, :inner, :inner]
    y = rng.integers(0, N_CLASSES, size=n)
    images = np.zeros((n, SIDE, SIDE), dtype=np.float32)
    noise = rng.standard_normal((n, inner, inner), dtype=np.float32)
    images[:, BORDER:-BORDER, BORDER:-BORDER] = np.clip(
        prototypes[y].astype(np.float32) + np.float32(0.35) * noise, 0, 1)
    x = (np.round(images.reshape(n, N_FEATURES) * 255) / 255).astype(dtype)
    return x, y


@lru_cache(maxsize=1)
def fashion_mnist():
    """((x_train, y_train), (x_test, y_test)) scaled to float32 [0, 1], or None when the
    dataset is not installed locally (nothing is downloaded)."""
    try:
        from fastnn.datasets import fashion_mnist as loader
        (x_train, y_train), (x_test, y_test) = loader.load_data(download=False)
    except (ImportError, OSError, ValueError):
        return None
    scale = np.float32(1 / 255)
    return ((x_train.reshape(len(x_train), -1).astype(np.float32) * scale,
             y_train.astype(np.int64)),
            (x_test.reshape(len(x_test), -1).astype(np.float32) * scale,
             y_test.astype(np.int64)))
