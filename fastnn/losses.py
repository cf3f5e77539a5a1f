"""Target checking and conversion for each loss (the kernels compute the losses)."""
import numbers

import numpy as np

from ._validation import numeric_array
from .kernels import codes

_SPARSE = codes.SPARSE_CATEGORICAL_CROSSENTROPY


def prepare_targets(where, y, n, loss, units, dtype):
    """Check y against the loss and the output width.

    Returns
    -------
    (y_dense, labels)
        y_dense: (n, units) of the model dtype, or (0, units) for the sparse loss;
        labels: (n,) int64 for the sparse loss, else empty.
    """
    if y is None:
        raise ValueError(f"{where}: y is required.")
    y = numeric_array(where, "y", y, np.float64)
    if y.shape[0] != n:
        raise ValueError(f"{where}: x and y have different numbers of samples: "
                         f"{n} and {y.shape[0]}.")
    empty_labels = np.zeros(0, dtype=np.int64)
    if loss == _SPARSE:
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise ValueError(f"{where}: sparse_categorical_crossentropy expects integer labels "
                             f"of shape ({n},) or ({n}, 1), got shape {y.shape}; for one-hot "
                             "targets use loss='categorical_crossentropy'.")
        labels = y.reshape(n)
        if (labels != np.round(labels)).any():
            raise ValueError(f"{where}: y must hold integer class labels for "
                             "sparse_categorical_crossentropy, got fractional values.")
        low, high = labels.min(), labels.max()
        if low < 0 or high >= units:
            raise ValueError(f"{where}: y holds labels in [{low:g}, {high:g}], but the output "
                             f"layer has {units} units (labels 0..{units - 1}).")
        return np.zeros((0, units), dtype=dtype), labels.astype(np.int64)
    if y.ndim == 1:
        if units != 1:
            hint = (" For integer class labels use loss='sparse_categorical_crossentropy'."
                    if loss == codes.CATEGORICAL_CROSSENTROPY else "")
            raise ValueError(f"{where}: y has shape {y.shape}, but the output layer has {units} "
                             f"units; expected shape ({n}, {units}).{hint}")
        y = y.reshape(n, 1)
    if y.ndim != 2 or y.shape[1] != units:
        raise ValueError(f"{where}: y has shape {y.shape}, expected ({n}, {units}) to match "
                         f"the output layer's {units} units.")
    if loss in (codes.BINARY_CROSSENTROPY, codes.CATEGORICAL_CROSSENTROPY):
        if y.min() < 0 or y.max() > 1:
            name = ("binary_crossentropy" if loss == codes.BINARY_CROSSENTROPY
                    else "categorical_crossentropy")
            raise ValueError(f"{where}: y holds values in [{y.min():g}, {y.max():g}], but "
                             f"{name} needs targets in [0, 1].")
    return np.ascontiguousarray(y, dtype=dtype), empty_labels


def class_weights(where, class_weight, y, labels, loss):
    """Per-sample weights from {class: weight}: class = label, argmax of a one-hot row,
    or the 0/1 target of a single-output model.

    ``y`` is the checked (n, units) target array ((0, units) for the sparse loss), so
    the classes are 0 .. units - 1 (0 and 1 for a single output). Keys must be int
    class indices in that range and weights finite numbers >= 0 (Keras's rule).
    """
    if not isinstance(class_weight, dict):
        raise TypeError(f"{where}: class_weight must be a dict {{class: weight}}, got "
                        f"{type(class_weight).__name__}.")
    units = y.shape[1]
    n_classes = units if units > 1 else 2
    table = np.ones(n_classes)
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral):
            raise TypeError(f"{where}: class_weight keys must be int class indices, got "
                            f"{type(key).__name__} {key!r}.")
        if not 0 <= key < n_classes:
            raise ValueError(f"{where}: class_weight has key {key}, but the model's classes "
                             f"are 0..{n_classes - 1}.")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{where}: class_weight[{key}] must be a number, got "
                            f"{type(value).__name__} {value!r}.")
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{where}: class_weight[{key}] must be a finite number >= 0, "
                             f"got {value}.")
        table[int(key)] = value
    if labels.shape[0]:
        classes = labels
    elif units == 1:
        classes = np.round(y[:, 0]).astype(np.int64)
        if classes.min() < 0 or classes.max() > 1:
            raise ValueError(f"{where}: class_weight on a single-output model needs 0/1 "
                             f"targets, but y holds values in [{y.min():g}, {y.max():g}].")
    else:
        classes = np.argmax(y, axis=1)
    return table[classes]
