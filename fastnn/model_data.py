"""The data a model is given (x, y, sample and class weights), checked and converted
to the model's dtype and shapes: the input checks of fit, evaluate and predict, and
of fit_many and sweep, in one place."""
import numpy as np

from . import losses as _losses
from ._validation import numeric_array
from .kernels.layout import data_arrays


def check_inputs(model, where, x, features=None):
    """x checked and converted to (n, features) of the model dtype (more dimensions are
    flattened per sample). Never builds: callers build once every check passed.

    ``features`` is the expected width when the model is not built yet and its first
    layer has no input_dim (validation data must match the training data).
    """
    if not model.layers:
        raise ValueError(f"{where}: the model has no layers; add Dense layers first.")
    x = numeric_array(where, "x", x, model.dtype)
    if x.ndim == 1:
        raise ValueError(f"{where}: x must be 2-D (samples, features), got shape {x.shape}; "
                         "use x.reshape(-1, 1) for one feature or x.reshape(1, -1) for one "
                         "sample.")
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    expected = model.input_dim
    if expected is None:
        expected = features
    if expected is not None and x.shape[1] != expected:
        raise ValueError(f"{where}: x has {x.shape[1]} features, but the model's first layer "
                         f"expects {expected}.")
    return x



def check_targets(model, where, y, n):
    """(y dense (n, units) or empty, labels (n,) int64 or empty) for the loss."""
    return _losses.prepare_targets(where, y, n, model._loss_code, model.layers[-1].units,
                                   model.dtype)



def check_weights(model, where, n, y, labels, sample_weight, class_weight):
    """(n,) sample weights of the model dtype: ``sample_weight`` times the class
    weights of y (each optional), checked."""
    weights = np.empty(n, dtype=model.dtype)
    weights.fill(1.0)  # np.ones costs twice as much, on every fit call
    if sample_weight is not None:
        sample_weight = numeric_array(where, "sample_weight", sample_weight, model.dtype)
        if sample_weight.shape != (n,):
            raise ValueError(f"{where}: sample_weight must have shape ({n},), got "
                             f"{sample_weight.shape}.")
        if (sample_weight < 0).any():
            raise ValueError(f"{where}: sample_weight must be >= 0.")
        weights *= sample_weight
    if class_weight is not None:
        weights *= _losses.class_weights(where, class_weight, y, labels, model._loss_code)
        if not np.isfinite(weights).all():
            raise ValueError(f"{where}: class_weight gives sample weights too large for "
                             f"{model.dtype.name} (they overflow to inf); scale the weights "
                             "down.")
    return weights



def check_data(model, where, x, y, sample_weight=None, class_weight=None, features=None):
    """(x, y dense, labels, sample weights), each checked and converted for the model."""
    x = check_inputs(model, where, x, features)
    y_dense, labels = check_targets(model, where, y, x.shape[0])
    weights = check_weights(model, where, x.shape[0], y_dense, labels, sample_weight,
                            class_weight)
    return data_arrays(x, y_dense, labels, weights)

