"""Builders shared by test modules: a small problem, models for it, and checks that a
model's state is what it was (the tests folder is on sys.path under pytest).

A plain module rather than conftest.py: the parametrize tables read ``X``, ``LABELS``
and ``TARGETS`` when their module is imported, before any fixture exists, and
``import conftest`` would find tests/perf/conftest.py once pytest has loaded it.
"""
import copy

import numpy as np

from fastnn import Dense, Sequential, optimizers
from fastnn.kernels import network
from fastnn.kernels._jit import kernel

# ------------------------------------------------------------ a small problem
N, FEATURES = 20, 4
_RNG = np.random.default_rng(1234)
X = _RNG.normal(size=(N, FEATURES))
LABELS = np.arange(N) % 3
TARGETS = {
    "mse": _RNG.normal(size=(N, 2)),
    "binary_crossentropy": (X[:, :1] > 0).astype(np.float64),
    "categorical_crossentropy": np.eye(3)[LABELS],
    "sparse_categorical_crossentropy": LABELS,
}
HEADS = {  # loss -> (units, activation) of the output layer
    "mse": (2, None),
    "binary_crossentropy": (1, "sigmoid"),
    "categorical_crossentropy": (3, "softmax"),
    "sparse_categorical_crossentropy": (3, "softmax"),
}
# How a model from make_model starts: trained for an epoch (non-zero optimizer state),
# compiled with input_dim declared but not built, or compiled with the width unknown.
FLAVORS = ["trained", "declared", "inferred"]


def make_model(loss="sparse_categorical_crossentropy", flavor="trained", dtype="float32",
               optimizer=None):
    """A 4-5-k network for ``loss`` on X, in one of the FLAVORS."""
    units, activation = HEADS[loss]
    input_dim = None if flavor == "inferred" else FEATURES
    model = Sequential([Dense(5, activation="tanh", input_dim=input_dim),
                        Dense(units, activation=activation)], dtype=dtype, seed=7)
    model.compile(optimizer=optimizer or optimizers.Adam(0.01), loss=loss,
                  metrics=["accuracy"])
    if flavor == "trained":
        model.fit(X, TARGETS[loss], epochs=1, batch_size=8, verbose=0)
    return model


def put(array, index, value, dtype=np.float64):
    """A copy of ``array`` with one entry replaced."""
    array = np.array(array, dtype=dtype)
    array[index] = value
    return array


# ------------------------------------------------------------- state checks
def state_of(model):
    """Everything a refused call must leave alone, copied."""
    optimizer = model.optimizer
    return {
        "built": model.built,
        "params": None if model.params is None else model.params.copy(),
        "state": None if model._state is None else model._state.copy(),
        "rng": copy.deepcopy(model._rng.bit_generator.state),
        "optimizer": optimizer,
        "iterations": None if optimizer is None else optimizer.iterations,
        "learning_rate": None if optimizer is None else copy.deepcopy(optimizer.learning_rate),
        "loss": model.loss,
        "metrics": list(model.metrics),
        "device": model.device,
        "epochs_completed": model.epochs_completed,
        "n_layers": len(model.layers),
    }


def assert_same_state(model, before):
    """``model`` is exactly as ``state_of`` found it: arrays bitwise, NaN-safe."""
    after = state_of(model)
    for key in ("params", "state"):
        if before[key] is None:
            assert after[key] is None, key
        else:
            assert after[key].dtype == before[key].dtype, key
            assert after[key].tobytes() == before[key].tobytes(), f"{key} changed"
    assert after["optimizer"] is before["optimizer"]
    for key in ("built", "rng", "iterations", "loss", "metrics", "device", "epochs_completed",
                "n_layers"):
        assert after[key] == before[key], f"{key} changed"
    assert type(after["learning_rate"]) is type(before["learning_rate"])
    if isinstance(before["learning_rate"], float):
        assert after["learning_rate"] == before["learning_rate"]


def assert_same_model(model, expected):
    """Two models (a loaded or resumed one and its original) are bitwise the same:
    weights, optimizer state, RNG, counters and compile settings."""
    assert model.dtype == expected.dtype
    assert model.params.tobytes() == expected.params.tobytes()
    assert model._state.tobytes() == expected._state.tobytes()
    assert model._rng.bit_generator.state == expected._rng.bit_generator.state
    assert model.optimizer.iterations == expected.optimizer.iterations
    assert model.optimizer.get_config() == expected.optimizer.get_config()
    assert model.epochs_completed == expected.epochs_completed
    assert (model.loss, model.metrics) == (expected.loss, expected.metrics)


# ------------------------------------------------------------ kernels from Python
@kernel(cache=False)
def _loss_and_gradients_into(out, grads, net, params, acts, deltas, data, order, first,
                             last, loss, batch_rows, first_layer, with_penalty, dropout, step):
    total, result = network.loss_and_gradients(grads, net, params, acts, deltas, data,
                                               order, first, last, loss, batch_rows,
                                               first_layer, with_penalty, dropout, step)
    for i in range(result.shape[0]):
        for j in range(result.shape[1]):
            out[i, j] = result[i, j]
    return total


def loss_and_gradients(grads, net, params, acts, deltas, data, order, first, last, *args):
    """``fastnn.kernels.network.loss_and_gradients`` callable from Python: the kernel
    returns a view of its workspace, which only compiled code may hold (the kernels
    run without Numba's reference counting); this returns (total, a copy of it)."""
    out = np.empty((last - first, int(net[0][-1])), params.dtype)
    total = _loss_and_gradients_into(out, grads, net, params, acts, deltas, data, order,
                                     first, last, *args)
    return total, out
