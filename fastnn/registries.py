"""Name -> integer-code registries the API resolves strings with (plain dicts)."""
from .kernels import codes

ACTIVATIONS = {
    "linear": codes.LINEAR,
    "sigmoid": codes.SIGMOID,
    "tanh": codes.TANH,
    "relu": codes.RELU,
    "leaky_relu": codes.LEAKY_RELU,
    "softmax": codes.SOFTMAX,
}
ACTIVATION_NAMES = {code: name for name, code in ACTIVATIONS.items()}

LOSSES = {
    "mse": codes.MSE,
    "mean_squared_error": codes.MSE,
    "sse": codes.SSE,
    "binary_crossentropy": codes.BINARY_CROSSENTROPY,
    "categorical_crossentropy": codes.CATEGORICAL_CROSSENTROPY,
    "sparse_categorical_crossentropy": codes.SPARSE_CATEGORICAL_CROSSENTROPY,
}

# Metric name -> canonical history key.
METRICS = {
    "accuracy": "accuracy", "acc": "accuracy",
    "mse": "mse", "mean_squared_error": "mse",
    "mae": "mae", "mean_absolute_error": "mae",
}


def accuracy_code(loss_code, units):
    """The accuracy variant Keras picks for a loss: sparse, categorical or binary."""
    if loss_code == codes.SPARSE_CATEGORICAL_CROSSENTROPY:
        return codes.SPARSE_ACCURACY
    if loss_code == codes.CATEGORICAL_CROSSENTROPY:
        return codes.CATEGORICAL_ACCURACY
    if loss_code == codes.BINARY_CROSSENTROPY or units == 1:
        return codes.BINARY_ACCURACY
    return codes.CATEGORICAL_ACCURACY
