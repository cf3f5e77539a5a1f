"""fastnn_peers: every benchmark peer trains the network fastnn trains.

The peers live in the fastnn-peers distribution (``pip install -e ./peers``); each test
skips where the peers or a peer's library is not installed (torch in CI).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn import Dense, Sequential
from fastnn.optimizers import SGD, Adam, RMSprop

peers = pytest.importorskip("fastnn_peers", reason="pip install -e ./peers")
from fastnn_peers import jax as jax_peer  # noqa: E402
from fastnn_peers import keras as keras_peer  # noqa: E402

N, FEATURES, CLASSES, WIDTH = 300, 784, 10, 16
LOSS = "sparse_categorical_crossentropy"
# The same optimizer in fastnn and in the peers' arguments.
OPTIMIZERS = {
    "sgd": (lambda: SGD(0.01, momentum=0.9), {"optimizer": "sgd", "momentum": 0.9}),
    "adam": (lambda: Adam(0.001, epsilon=1e-7), {"optimizer": "adam"}),
    "rmsprop": (lambda: RMSprop(0.001, momentum=0.5), {"optimizer": "rmsprop",
                                                       "momentum": 0.5}),
}


FRAMEWORKS = ["reference", "torch", "sklearn", "jax", "keras"]
LIBRARIES = {"torch": "torch", "sklearn": "sklearn", "jax": "jax"}


def require(framework):
    """Skip unless ``framework`` imports. Keras through ``import_keras``, which picks
    the JAX backend before the first import (pytest.importorskip("keras") would
    import it with Keras's default backend, TensorFlow, and fail for good)."""
    if framework in LIBRARIES:
        pytest.importorskip(LIBRARIES[framework])
    if framework == "keras":
        pytest.importorskip("jax")      # Keras on JAX here
        try:
            keras_peer.import_keras()
        except ImportError as error:
            pytest.skip(f"keras is not importable: {error}")


@pytest.fixture(params=FRAMEWORKS)
def framework(request):
    """Each peer, skipped when its framework does not import."""
    require(request.param)
    return request.param


def supported(framework, optimizer):
    """Skip the settings a peer's engine has not got (scikit-learn: no RMSprop)."""
    reason = peers.unsupported(framework, optimizer, "relu")
    if reason is not None:
        pytest.skip(reason)


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
    counts = framework in ("jax", "keras")             # the peers that count steps
    assert not counts or peer.iterations == 0
    for before, after in zip(start, peer.get_weights()):
        np.testing.assert_array_equal(before, after)   # prepare does not train
    peer.epoch(32)
    assert not counts or peer.iterations == -(-N // 32)    # the partial batch too
    weights = peer.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in start]
    for before, after in zip(start, weights):
        assert after.dtype == np.float32
        assert np.all(np.isfinite(after)) and not np.allclose(before, after, rtol=0, atol=1e-9)
    peer.set_weights(start)                            # starts again
    assert not counts or peer.iterations == 0
    np.testing.assert_array_equal(peer.get_weights()[0], start[0])


@pytest.mark.filterwarnings("ignore:Got `batch_size`")  # scikit-learn clips 512 to N
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
@pytest.mark.parametrize("batch_size", [N, 512], ids=["scan", "partial-step"])
def test_one_batch_epochs_match_fastnn_fit(framework, optimizer, batch_size):
    supported(framework, optimizer)
    if (framework, optimizer) == ("torch", "rmsprop"):
        pytest.skip("torch.optim.RMSprop adds epsilon outside the root: another rule")
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
FLOAT64_TOLERANCE = {"keras": {"rtol": 1e-6, "atol": 1e-10}}
EXACT = {"rtol": 1e-10, "atol": 1e-15}


def test_float64_matches_fastnn_in_float64(framework):
    peer, model = make_peer(framework, "sgd", "float64")
    x, y = data("float64")
    model.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    peer.epoch(N)
    for ours, theirs in zip(model.get_weights(), peer.get_weights()):
        assert theirs.dtype == np.float64
        np.testing.assert_allclose(theirs, ours, **FLOAT64_TOLERANCE.get(framework, EXACT))


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
    compiled = len(jax_peer._EXECUTABLES)
    peer.epoch(64, 250)
    peer.epoch(64, 250)
    assert len(jax_peer._EXECUTABLES) == compiled
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


def test_optimizer_settings_are_fastnns_defaults():
    assert peers.optimizer_settings("sgd", momentum=0.9) == {"learning_rate": 0.01,
                                                             "momentum": 0.9}
    adam = Adam()
    assert peers.optimizer_settings("adam") == {
        "learning_rate": adam.learning_rate, "beta_1": adam.beta_1, "beta_2": adam.beta_2,
        "epsilon": adam.epsilon}
    rmsprop = RMSprop(momentum=0.5)
    assert peers.optimizer_settings("rmsprop", 0.002, 0.5) == {
        "learning_rate": 0.002, "momentum": 0.5, "rho": rmsprop.rho,
        "epsilon": rmsprop.epsilon}


def test_unsupported_names_what_an_engine_cannot_run():
    assert peers.unsupported("sklearn", "rmsprop", "relu") == "MLPClassifier has no rmsprop solver"
    assert peers.unsupported("sklearn", "sgd", "leaky_relu") == (
        "MLPClassifier has no leaky_relu activation")
    for name in FRAMEWORKS:
        assert peers.unsupported(name, "adam", "relu") is None
    with pytest.raises(ValueError, match="unknown peer 'mxnet'; expected one of reference"):
        peers.make_peer("mxnet", [], None, None)
    x, y = data()
    with pytest.raises(ValueError, match="SklearnPeer: MLPClassifier has no rmsprop solver"):
        peers.make_peer("sklearn", fastnn_model().get_weights(), x, y, optimizer="rmsprop")


def test_importing_the_peers_imports_none_of_their_libraries():
    code = ("import sys, fastnn, fastnn.cli, fastnn_peers, fastnn_peers.reference, "
            "fastnn_peers.torch, fastnn_peers.sklearn, fastnn_peers.jax, fastnn_peers.keras; "
            "print(sorted({'jax', 'keras', 'torch', 'sklearn'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
