"""Whole training runs: parity with fastnn.reference, dtypes, reproducibility."""
import copy
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn import Dense, Sequential, reference
from fastnn.engines import SPLIT_UNITS_UP_TO
from fastnn.optimizers import RMSprop, SGD, Adam

OPTIMIZERS = {
    "sgd": (lambda: SGD(learning_rate=0.05), dict(learning_rate=0.05)),
    "momentum": (lambda: SGD(0.05, momentum=0.9), dict(learning_rate=0.05, momentum=0.9)),
    "nesterov": (lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                 dict(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": (lambda: Adam(0.01), dict(learning_rate=0.01)),
    "rmsprop": (lambda: RMSprop(0.01, momentum=0.5), dict(learning_rate=0.01, momentum=0.5)),
}


def data(n=53, features=7, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    labels = (np.abs(x[:, :classes]).argmax(axis=1)).astype(np.int64)
    return x, labels


def seed_model(dtype="float64", seed=3, hidden="tanh"):
    return Sequential([Dense(8, activation=hidden, input_dim=7), Dense(6, activation="relu"),
                       Dense(4, activation="softmax")], dtype=dtype, seed=seed)


# First layer split by units; by rows (a batch larger than the 53 samples is all of them).
@pytest.mark.parametrize("batch_size", [16, SPLIT_UNITS_UP_TO + 1])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_matches_reference_for_every_optimizer(name, batch_size):
    """Several shuffled epochs (with a partial last batch): fastnn == NumPy reference."""
    make_optimizer, hyper = OPTIMIZERS[name]
    x, labels = data()
    model = seed_model()
    model.build()
    ws = model.get_weights()
    ref = reference.ReferenceMLP(ws[0::2], ws[1::2], ["tanh", "relu", "softmax"],
                                 "sparse_categorical_crossentropy",
                                 {"momentum": "sgd", "nesterov": "sgd"}.get(name, name), **hyper)
    shuffler = copy.deepcopy(model._rng)
    model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy")
    history = model.fit(x, labels, batch_size=batch_size, epochs=4, verbose=0)
    y = np.eye(4)[labels]
    ref_losses = [ref.train_epoch(x, y, shuffler.permutation(len(x)), batch_size)
                  for _ in range(4)]
    np.testing.assert_allclose(history.history["loss"], ref_losses, rtol=1e-10)
    expected = [array for pair in zip(ref.weights, ref.biases) for array in pair]
    for mine, theirs in zip(model.get_weights(), expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_float32_agrees_with_float64():
    x, labels = data(n=200)
    results = {}
    for dtype in ("float32", "float64"):
        model = seed_model(dtype)
        model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, labels, batch_size=32, epochs=3, verbose=0)
        results[dtype] = (history.history["loss"], model.predict(x))
        assert model.get_weights()[0].dtype == np.dtype(dtype)
        assert model.predict(x).dtype == np.dtype(dtype)
    np.testing.assert_allclose(results["float32"][0], results["float64"][0], rtol=1e-4)
    np.testing.assert_allclose(results["float32"][1], results["float64"][1], atol=1e-4)


def test_same_seed_is_bitwise_reproducible():
    x, labels = data(n=300)
    runs = []
    for _ in range(2):
        model = seed_model("float32", seed=11, hidden="relu")
        model.compile(optimizer=SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, labels, batch_size=8, epochs=3, verbose=0, validation_split=0.2)
        runs.append((model.params.copy(), history.history))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    other = seed_model("float32", seed=12, hidden="relu")
    other.compile(optimizer=SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    other.fit(x, labels, batch_size=8, epochs=3, verbose=0, validation_split=0.2)
    assert not np.array_equal(other.params, runs[0][0])  # the seed matters


@pytest.mark.parametrize("loss,activation,targets", [
    ("mse", "linear", "regression"), ("sse", "sigmoid", "binary"),
    ("binary_crossentropy", "sigmoid", "binary"), ("categorical_crossentropy", "softmax", "onehot"),
])
def test_every_loss_trains_like_the_reference(loss, activation, targets):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 5))
    units = 1 if targets == "binary" else 3
    y = {"regression": rng.standard_normal((40, 3)),
         "binary": (x[:, :1] > 0).astype(float),
         "onehot": np.eye(3)[rng.integers(0, 3, 40)]}[targets]
    model = Sequential([Dense(6, activation="sigmoid", input_dim=5),
                        Dense(units, activation=activation)], dtype="float64", seed=2)
    model.compile(optimizer=SGD(0.1, momentum=0.5), loss=loss)
    model.build()
    ws = model.get_weights()
    ref = reference.ReferenceMLP(ws[0::2], ws[1::2], ["sigmoid", activation], loss, "sgd",
                                 learning_rate=0.1, momentum=0.5)
    history = model.fit(x, y, batch_size=7, epochs=3, shuffle=False, verbose=0)
    expected = [ref.train_epoch(x, y, np.arange(40), 7) for _ in range(3)]
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-10)
    np.testing.assert_allclose(model.predict(x), ref.predict(x), rtol=1e-9, atol=1e-12)


def test_kernels_run_as_plain_python_under_numba_disable_jit():
    """NUMBA_DISABLE_JIT=1 (Numba's switch for stepping through kernels in a Python
    debugger, and for coverage) runs the same training as plain Python: the losses,
    weights and predictions agree with the compiled run's."""
    script = textwrap.dedent("""
        import json
        import numpy as np
        from fastnn import Dense, Sequential
        from fastnn.optimizers import Adam
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((40, 5)), np.arange(40) % 3
        model = Sequential([Dense(6, activation="tanh", input_dim=5),
                            Dense(3, activation="softmax")], dtype="float64", seed=1)
        model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25)
        print(json.dumps({"history": history.history, "params": model.params.tolist(),
                          "predict": model.predict(x[:4]).tolist()}))
    """)
    runs = {}
    for disable in ("0", "1"):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=dict(os.environ, NUMBA_DISABLE_JIT=disable), timeout=600)
        assert done.returncode == 0, f"NUMBA_DISABLE_JIT={disable}:\n{done.stderr[-3000:]}"
        runs[disable] = json.loads(done.stdout.strip().splitlines()[-1])
    compiled, python = runs["0"], runs["1"]
    assert python["history"].keys() == compiled["history"].keys()
    for key, values in compiled["history"].items():
        np.testing.assert_allclose(python["history"][key], values, rtol=1e-9, err_msg=key)
    np.testing.assert_allclose(python["params"], compiled["params"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(python["predict"], compiled["predict"], rtol=1e-9)
