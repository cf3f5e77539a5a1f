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
    "mae": codes.MAE,
    "mean_absolute_error": codes.MAE,
    "huber": codes.HUBER,
}

# Metric name -> what it measures. The history key is the name as given, as Keras logs
# it: metrics=["acc"] logs "acc", ["mean_squared_error"] logs "mean_squared_error".
METRICS = {
    "accuracy": "accuracy", "acc": "accuracy",
    "mse": "mse", "mean_squared_error": "mse",
    "mae": "mae", "mean_absolute_error": "mae",
}


def accuracy_code(sparse, units):
    """The accuracy variant Keras 3 picks from the shapes: binary for one output unit,
    sparse for integer labels (``sparse``), categorical otherwise."""
    if units == 1:
        return codes.BINARY_ACCURACY
    if sparse:
        return codes.SPARSE_ACCURACY
    return codes.CATEGORICAL_ACCURACY


def metric_logs(metrics, weighted_metrics):
    """[(history key, what it measures, weighted)] of compiled metric names, named as
    Keras 3 names them: a repeated metric gets "_1", "_2", ...; a weighted metric whose
    name a metric already has gets the prefix "weighted_"."""
    counters, logs = {}, []
    for name in metrics:
        key = name
        if key in counters:
            key = f"{name}_{counters[name]}"
            counters[name] += 1
        else:
            counters[name] = 1
        logs.append((key, METRICS[name.lower()], False))
    for name in weighted_metrics:
        key = name
        if key in counters:
            key = f"weighted_{name}"
            if key in counters:
                index = counters[key]
                counters[key] += 1
                key = f"{key}_{index}"
            else:
                counters[key] = 1
        else:
            counters[key] = 1
        logs.append((key, METRICS[name.lower()], True))
    return logs
