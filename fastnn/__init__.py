"""fastnn: train dense neural networks at compiled speed.

Fused Numba kernels run the forward pass, backprop and optimizer updates over whole
mini-batches and epochs; a thin Keras-shaped API wraps them.
"""
from . import callbacks, datasets, initializers, optimizers, regularizers, schedules
from .layers import Dense, Dropout
from .many import cross_validation_weights, fit_many
from .model import Sequential, load_model
from .seeding import set_random_seed
from .sweep import SweepResult, sweep

__version__ = "0.1.0"
__all__ = ["Dense", "Dropout", "Sequential", "fit_many", "cross_validation_weights", "sweep", "SweepResult", "load_model", "set_random_seed", "callbacks", "datasets",
           "initializers", "optimizers", "regularizers", "schedules", "__version__"]
