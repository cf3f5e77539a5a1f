"""fastnn: train dense neural networks at compiled speed.

Fused Numba kernels run the forward pass, backprop and optimizer updates over whole
mini-batches and epochs; a thin Keras-shaped API wraps them.
"""
import importlib

from . import callbacks, initializers, optimizers, regularizers, schedules
from .layers import Dense, Dropout
from .model import Sequential, load_model
from .seeding import set_random_seed

__version__ = "0.1.0"
__all__ = ["Dense", "Dropout", "Sequential", "fit_many", "cross_validation_weights", "sweep",
           "SweepResult", "load_model", "set_random_seed", "callbacks", "datasets",
           "initializers", "optimizers", "regularizers", "schedules", "__version__"]

# Imported on first use (PEP 562): a script that only trains one model starts without
# the many-models kernels, the sweep's process pools or the downloaders' HTTP stack.
_LAZY = {"fit_many": ".many", "cross_validation_weights": ".many", "sweep": ".sweep",
         "SweepResult": ".sweep", "datasets": ".datasets"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name], __name__)
    value = module if name == "datasets" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
