"""Loss objects (Keras 3's classes and options), and target checking and conversion
for each loss. The kernels compute the losses; a loss reaches them as the tuple
``spec()`` returns.

Examples
--------
>>> from fastnn import Sequential, Dense, losses
>>> model = Sequential([Dense(3, input_dim=4)], seed=0)
>>> model.compile(optimizer="adam",
...               loss=losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1))
>>> model.loss
'categorical_crossentropy'
"""
import numbers

import numpy as np

from ._validation import boolean, choice, non_negative_float, numeric_array
from .kernels import codes
from .registries import LOSSES


class Loss:
    """Base class of the loss objects: a registry name and Keras's options.

    ``compile`` takes one of these or a name ("mse", "mae", "huber",
    "binary_crossentropy", ...), which means the class with its defaults.
    """

    name = None

    def get_config(self):
        """The options, as keyword arguments of the class."""
        return {}

    def spec(self):
        """(code, from_logits, label_smoothing, delta): what the kernels take."""
        config = self.get_config()
        return (int(LOSSES[self.name]), int(config.get("from_logits", False)),
                float(config.get("label_smoothing", 0.0)),
                float(config.get("delta", codes.HUBER_DELTA)))

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"


class MeanSquaredError(Loss):
    """mean over outputs of (y - y_hat)^2 (Keras's "mse")."""

    name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """mean over outputs of |y - y_hat| (Keras's "mae"); its gradient is
    sign(y_hat - y), 0 where they are equal."""

    name = "mean_absolute_error"


class Huber(Loss):
    """Keras 3's Huber loss: mean over outputs of e^2 / 2 where |e| <= delta, else
    delta * |e| - delta^2 / 2, for e = y_hat - y.

    Parameters
    ----------
    delta : float, default=1.0
        Where the loss turns from quadratic to linear; >= 0.

    Raises
    ------
    TypeError, ValueError
        delta not a number, or negative or not finite.
    """

    name = "huber"

    def __init__(self, delta=codes.HUBER_DELTA):
        self.delta = non_negative_float("Huber", "delta", delta)

    def get_config(self):
        return {"delta": self.delta}


def _smoothing(where, value):
    """A label_smoothing in [0, 1], as a float."""
    value = non_negative_float(where, "label_smoothing", value)
    if value > 1:
        raise ValueError(f"{where}: label_smoothing must be in [0, 1], got {value}.")
    return value


class _CrossentropyWithSmoothing(Loss):
    """The options the binary and the categorical cross-entropy share: from_logits
    and label_smoothing, checked under the class's own name."""

    def __init__(self, from_logits=False, label_smoothing=0.0):
        where = type(self).__name__
        self.from_logits = boolean(where, "from_logits", from_logits)
        self.label_smoothing = _smoothing(where, label_smoothing)

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_CrossentropyWithSmoothing):
    """Binary cross-entropy, averaged over outputs, in Keras 3's form.

    Parameters
    ----------
    from_logits : bool, default=False
        Read the outputs as logits x: L = max(x, 0) - x*t + log(1 + exp(-|x|)),
        no clip. Otherwise the outputs are probabilities, clipped to
        [1e-7, 1 - 1e-7] before the logs.
    label_smoothing : float, default=0.0
        In [0, 1]: the targets become t * (1 - label_smoothing) + label_smoothing / 2.

    Raises
    ------
    TypeError, ValueError
        An option of the wrong type or out of range.
    """

    name = "binary_crossentropy"


class CategoricalCrossentropy(_CrossentropyWithSmoothing):
    """Categorical cross-entropy on one-hot (or soft) targets, in Keras 3's form.

    Parameters
    ----------
    from_logits : bool, default=False
        Read the outputs as logits: L = -sum_j t_j log_softmax(x)_j. Otherwise each
        output row is divided by its sum, clipped to [1e-7, 1 - 1e-7] and logged.
    label_smoothing : float, default=0.0
        In [0, 1]: the targets become t * (1 - label_smoothing) + label_smoothing / units.

    Raises
    ------
    TypeError, ValueError
        An option of the wrong type or out of range.
    """

    name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    """Categorical cross-entropy on integer labels, in Keras 3's form (which has no
    label smoothing).

    Parameters
    ----------
    from_logits : bool, default=False
        As ``CategoricalCrossentropy``.

    Raises
    ------
    TypeError
        from_logits not a bool.
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = boolean("SparseCategoricalCrossentropy", "from_logits", from_logits)

    def get_config(self):
        return {"from_logits": self.from_logits}


class SumSquaredError(Loss):
    """1/2 * sum over samples and outputs of (y - y_hat)^2: the error E of the
    textbook derivation ("sse"), not a batch mean."""

    name = "sse"


# Registry name -> class; the aliases in ``registries.LOSSES`` resolve through the code.
_CLASSES = {cls.name: cls for cls in (MeanSquaredError, MeanAbsoluteError, Huber,
                                      BinaryCrossentropy, CategoricalCrossentropy,
                                      SparseCategoricalCrossentropy, SumSquaredError)}
_BY_CODE = {LOSSES[name]: cls for name, cls in _CLASSES.items()}


def get(where, identifier):
    """(name, Loss) of a loss name or Loss instance; the name is the string as given
    (lower-cased) or the class's name."""
    if isinstance(identifier, Loss):
        if type(identifier) not in _CLASSES.values():
            raise TypeError(f"{where}: loss must be a name or one of fastnn.losses' classes "
                            f"({', '.join(c.__name__ for c in _CLASSES.values())}), got "
                            f"{type(identifier).__name__}: the kernels compute only these.")
        return identifier.name, identifier
    code = choice(where, "loss", identifier, LOSSES)
    return identifier.lower(), _BY_CODE[code]()


def deserialize(name, config, where="load_model"):
    """The Loss a saved compile config describes (``config`` None: the defaults).

    Raises
    ------
    ValueError
        An unknown name, or options that do not fit its class.
    """
    code = choice(where, "loss", name, LOSSES)
    cls = _BY_CODE[code]
    if config is None:
        return cls()
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the loss options must be an object, got "
                         f"{type(config).__name__}.")
    try:
        return cls(**config)
    except TypeError as error:
        raise ValueError(f"{where}: the loss options {config!r} do not fit "
                         f"{cls.__name__}: {error}") from None

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
    if np.dtype(dtype) == y.dtype:
        return y, empty_labels
    return numeric_array(where, "y", y, dtype), empty_labels  # checked for overflow


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
