"""fastnn.peers: the JAX and Keras 3 benchmark peers train the network fastnn trains.

Skipped where jax or keras is not installed (CI); ``pip install -e ".[peers]"`` adds them.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn import Dense, Sequential, peers
from fastnn.optimizers import SGD, Adam, RMSprop

N, FEATURES, CLASSES, WIDTH = 300, 784, 10, 16
LOSS = "sparse_categorical_crossentropy"
# The same optimizer in fastnn and in the peers' arguments.
OPTIMIZERS = {
    "sgd": (lambda: SGD(0.01, momentum=0.9), {"optimizer": "sgd", "momentum": 0.9}),
    "adam": (lambda: Adam(0.001, epsilon=1e-7), {"optimizer": "adam"}),
    "rmsprop": (lambda: RMSprop(0.001, momentum=0.5), {"optimizer": "rmsprop",
                                                       "momentum": 0.5}),
}


def require(framework):
    """Skip unless ``framework`` imports. Keras through ``peers.import_keras``, which
    picks the JAX backend before the first import (pytest.importorskip("keras") would
    import it with Keras's default backend, TensorFlow, and fail for good)."""
    pytest.importorskip("jax")      # both peers need it here (Keras on JAX)
    if framework == "keras":
        try:
            peers.import_keras()
        except ImportError as error:
            pytest.skip(f"keras is not importable: {error}")


@pytest.fixture(params=["jax", "keras"])
def framework(request):
    """Each peer, skipped when its framework does not import."""
    require(request.param)
    return request.param


def data(dtype="float32"):
    rng = np.random.default_rng(0)
    return rng.random((N, FEATURES)).astype(dtype), rng.integers(0, CLASSES, N)


def fastnn_model(optimizer="sgd", dtype="float32"):
    model = Sequential([Dense(WIDTH, activation="relu", input_dim=FEATURES),
                        Dense(WIDTH, activation="relu"),
                        Dense(CLASSES, activation="softmax")], dtype=dtype, seed=0)
    model.compile(optimizer=OPTIMIZERS[optimizer][0](), loss=LOSS)
    return model


def make_peer(framework, optimizer, dtype="float32"):
    """(peer, fastnn model) starting from the same weights."""
    model = fastnn_model(optimizer, dtype)
    x, y = data(dtype)
    return peers.make_peer(framework, model.get_weights(), x, y,
                           **OPTIMIZERS[optimizer][1]), model


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_epoch_trains_every_batch_and_changes_every_weight(framework, optimizer):
    peer, model = make_peer(framework, optimizer)
    start = model.get_weights()
    peer.prepare(32)
    assert peer.iterations == 0
    for before, after in zip(start, peer.get_weights()):
        np.testing.assert_array_equal(before, after)   # prepare does not train
    peer.epoch(32)
    assert peer.iterations == -(-N // 32)              # the partial batch too
    weights = peer.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in start]
    for before, after in zip(start, weights):
        assert after.dtype == np.float32
        assert np.all(np.isfinite(after)) and not np.allclose(before, after, rtol=0, atol=1e-9)
    peer.set_weights(start)                            # starts again
    assert peer.iterations == 0
    np.testing.assert_array_equal(peer.get_weights()[0], start[0])


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
@pytest.mark.parametrize("batch_size", [N, 512], ids=["scan", "partial-step"])
def test_one_batch_epochs_match_fastnn_fit(framework, optimizer, batch_size):
    # One batch holds every sample, so the shuffle only reorders a sum: JAX's scan
    # (batch N) and its partial-batch step (batch 512 > N) and Keras's fit must give
    # fastnn's weights after two epochs (momentum carried over).
    peer, model = make_peer(framework, optimizer)
    x, y = data()
    model.fit(x, y, batch_size=N, epochs=2, shuffle=False, verbose=0)
    peer.prepare(batch_size)
    peer.epoch(batch_size)
    peer.epoch(batch_size)
    for ours, theirs in zip(model.get_weights(), peer.get_weights()):
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-7)


# Keras keeps the learning rate in a float32 variable (0.01 -> 0.0099999998) even for
# a float64 model: its updates are float64 arithmetic on a rounded step size.
FLOAT64_TOLERANCE = {"jax": {"rtol": 1e-10, "atol": 1e-15},
                     "keras": {"rtol": 1e-6, "atol": 1e-10}}


def test_float64_matches_fastnn_in_float64(framework):
    peer, model = make_peer(framework, "sgd", "float64")
    x, y = data("float64")
    model.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    peer.epoch(N)
    for ours, theirs in zip(model.get_weights(), peer.get_weights()):
        assert theirs.dtype == np.float64
        np.testing.assert_allclose(theirs, ours, **FLOAT64_TOLERANCE[framework])


def test_predict_returns_probabilities_as_fastnn_does(framework):
    peer, model = make_peer(framework, "sgd")
    x, _ = data()
    probabilities = peer.predict(x)
    assert probabilities.shape == (N, CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(probabilities, model.predict(x), rtol=1e-4, atol=1e-7)
    assert peer.predict(x[:1]).shape == (1, CLASSES)


def test_jax_epoch_after_prepare_compiles_nothing():
    require("jax")
    peer, _ = make_peer("jax", "adam")
    peer.prepare(64, 250)                # 3 full batches and a partial one of 58 rows
    compiled = len(peers._EXECUTABLES)
    peer.epoch(64, 250)
    peer.epoch(64, 250)
    assert len(peers._EXECUTABLES) == compiled
    assert peer.iterations == 8


def test_keras_runs_on_the_jax_backend_unless_told_otherwise():
    require("keras")
    peer, _ = make_peer("keras", "adam")
    assert peer.backend == os.environ["KERAS_BACKEND"]
    assert peer.backend == "jax" or os.environ["KERAS_BACKEND"] != "jax"
    assert f"on the {peer.backend} backend" in peers.describe("keras")


def test_optimizer_config_fills_keras_defaults_and_rejects_bad_values():
    assert peers.optimizer_config("sgd") == ("sgd", 0.01, 0.0)
    assert peers.optimizer_config("adam", 0.002) == ("adam", 0.002, 0.0)
    with pytest.raises(ValueError, match="momentum applies to sgd and rmsprop"):
        peers.optimizer_config("adam", momentum=0.9)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        peers.optimizer_config("adagrad")


def test_importing_fastnn_imports_neither_jax_nor_keras():
    code = ("import sys, fastnn, fastnn.peers, fastnn.cli; "
            "print(sorted({'jax', 'keras'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
