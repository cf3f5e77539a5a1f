"""The same epoch, and the same inference, in other engines: fastnn's own NumPy
reference (always), PyTorch CPU eager, scikit-learn's MLPClassifier, JAX and Keras 3
(when importable; otherwise setup raises NotImplementedError and asv reports them
skipped). JAX and Keras run in the regular profile only (``common.PEERS``); in the
fast profile their speedup tracks report skipped.

Every peer trains 784-W-W-10 relu/relu/softmax with sparse categorical cross-entropy
from fastnn's initial weights, on the same data, in shuffled mini-batches:

- NumPy reference: ``fastnn.reference.ReferenceMLP.train_epoch``, one Python iteration
  per mini-batch. Unit sample weights of the model dtype are passed explicitly: without
  them the reference builds float64 ones and runs a float32 model's backward pass in
  float64.
- PyTorch: ``torch.nn.Sequential`` (Linear/ReLU, softmax folded into
  ``CrossEntropyLoss`` as PyTorch users write it), ``torch.optim.SGD``/``Adam``,
  ``torch.set_num_threads(2)``, no DataLoader: index slicing of a shuffled permutation.
- scikit-learn: ``MLPClassifier.partial_fit`` (one epoch), alpha=0.
- JAX (``fastnn.peers.JaxPeer``): each epoch's full batches in ONE jitted function, a
  ``jax.lax.scan`` over the batches' row indices, the partial batch in a jitted step;
  SGD momentum and Adam written with ``jax.tree_util``; XLA's default CPU threads.
  Compiled for the epoch's shapes in setup, never inside a timed epoch.
- Keras 3 (``fastnn.peers.KerasPeer``): ``keras.Sequential`` of ``Dense`` layers, one
  ``model.fit(epochs=1, shuffle=True)`` per epoch, on the JAX backend
  (``KERAS_BACKEND=jax`` is set before keras is first imported when jax is installed
  and the variable is unset; otherwise Keras's default backend). Setup trains one
  full and one partial batch first, so the train step is compiled.

The NumPy-based peers train under ``common.numpy_blas_limits(batch_size)``; inference
runs with BLAS's defaults, as fastnn's ``predict`` does.

``track_speedup_vs_*`` time fastnn's epoch and the peer's epoch alternately in one
process (best of ``TRACK_REPEATS`` each) and return peer time / fastnn time: each
ratio is measured side by side, under the same machine load.
"""
import numpy as np

from . import common
from .datasets import synthetic

PEERS = common.PEERS           # the profile's; PEER_CLASSES has every peer


class NumpyReferencePeer:
    """fastnn.reference.ReferenceMLP, from fastnn's initial weights."""

    def __init__(self, width, dtype, optimizer, batch_size, x, y):
        from fastnn.reference import ReferenceMLP

        weights = common.initial_weights(width, dtype)
        hyper = ({"momentum": common.MOMENTUM} if optimizer == "sgd"
                 else {"epsilon": common.ADAM_EPSILON})
        self.model = ReferenceMLP(weights[0::2], weights[1::2], common.ACTIVATIONS,
                                  common.LOSS, optimizer,
                                  learning_rate=common.LEARNING_RATE[optimizer], **hyper)
        self.batch_size = batch_size
        self.x, self.targets = x, common.one_hot(y, dtype)
        self.sample_weight = np.ones(len(x), dtype=dtype)
        self.rng = np.random.default_rng(common.SEED)

    def epoch(self):
        with common.numpy_blas_limits(self.batch_size):
            self.model.train_epoch(self.x, self.targets, self.rng.permutation(len(self.x)),
                                   self.batch_size, self.sample_weight)

    def predict(self, x):
        return self.model.predict(x)


class TorchPeer:
    """torch.nn.Sequential trained by a plain index-slicing loop."""

    def __init__(self, width, dtype, optimizer, batch_size, x, y):
        torch = _import("torch")
        torch.set_num_threads(2)
        self.torch = torch
        torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
        layers = []
        weights = common.initial_weights(width, dtype)
        for i in range(0, len(weights), 2):
            w, b = weights[i], weights[i + 1]
            linear = torch.nn.Linear(w.shape[0], w.shape[1], dtype=torch_dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*layers[:-1])        # logits; softmax in the loss
        self.loss = torch.nn.CrossEntropyLoss()
        if optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.net.parameters(),
                                             lr=common.LEARNING_RATE["sgd"],
                                             momentum=common.MOMENTUM)
        else:
            self.optimizer = torch.optim.Adam(self.net.parameters(),
                                              lr=common.LEARNING_RATE["adam"],
                                              eps=common.ADAM_EPSILON)
        self.batch_size = batch_size
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.generator = torch.Generator().manual_seed(common.SEED)

    def epoch(self):
        torch, n = self.torch, self.x.shape[0]
        order = torch.randperm(n, generator=self.generator)
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.net(self.x[rows]), self.y[rows])
            loss.backward()
            self.optimizer.step()

    def predict(self, x):
        with self.torch.inference_mode():
            return self.net(self.torch.from_numpy(x)).softmax(dim=1).numpy()


class SklearnPeer:
    """sklearn.neural_network.MLPClassifier, one ``partial_fit`` per epoch."""

    def __init__(self, width, dtype, optimizer, batch_size, x, y):
        neural_network = _import("sklearn.neural_network")
        self.model = neural_network.MLPClassifier(
            hidden_layer_sizes=(width, width), activation="relu", solver=optimizer,
            alpha=0.0, batch_size=batch_size, learning_rate_init=common.LEARNING_RATE[optimizer],
            momentum=common.MOMENTUM, nesterovs_momentum=False, epsilon=common.ADAM_EPSILON,
            shuffle=True, random_state=common.SEED)
        self.batch_size = batch_size
        self.x, self.y = x, y
        # The first partial_fit lays out the model (and its dtype); then fastnn's initial
        # weights are copied in place (the solver keeps references to these arrays).
        rows = min(len(x), 2 * batch_size)
        self.model.partial_fit(x[:rows], y[:rows], classes=np.arange(common.N_CLASSES))
        weights = common.initial_weights(width, dtype)
        for i, (coef, intercept) in enumerate(zip(self.model.coefs_, self.model.intercepts_)):
            coef[...] = weights[2 * i]
            intercept[...] = weights[2 * i + 1]

    def epoch(self):
        with common.numpy_blas_limits(self.batch_size):
            self.model.partial_fit(self.x, self.y)

    def predict(self, x):
        return self.model.predict_proba(x)


class _FastnnPeersPeer:
    """A ``fastnn.peers`` peer (the same code ``fastnn bench`` times), adapted to the
    suite: built from fastnn's initial weights, compiled for its batch size in setup."""

    framework = None

    def __init__(self, width, dtype, optimizer, batch_size, x, y):
        peers = _import_peers(self.framework, dtype)
        self.peer = peers.make_peer(
            self.framework, common.initial_weights(width, dtype), x, y, optimizer=optimizer,
            learning_rate=common.LEARNING_RATE[optimizer],
            momentum=common.MOMENTUM if optimizer == "sgd" else None, seed=common.SEED)
        self.batch_size = batch_size
        self.peer.prepare(batch_size)

    def epoch(self):
        self.peer.epoch(self.batch_size)        # returns once the device is done

    def predict(self, x):
        return self.peer.predict(x)


class JaxPeer(_FastnnPeersPeer):
    """JAX: the whole epoch in one jit (``lax.scan`` over the mini-batches)."""

    framework = "jax"


class KerasPeer(_FastnnPeersPeer):
    """Keras 3 ``model.fit``, JAX backend when jax is installed (``KERAS_BACKEND``)."""

    framework = "keras"


PEER_CLASSES = {"numpy_reference": NumpyReferencePeer, "torch": TorchPeer,
                "sklearn": SklearnPeer, "jax": JaxPeer, "keras": KerasPeer}


def _import(name):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise NotImplementedError(f"{name} is not installed: {error}") from None


def _import_peers(framework, dtype):
    """fastnn.peers, once ``framework`` imports (Keras through ``import_keras``, which
    picks its backend); NotImplementedError, a skip for asv, when it does not."""
    from fastnn import peers

    importer = peers.import_jax if framework == "jax" else peers.import_keras
    try:
        importer(dtype)
    except ImportError as error:
        raise NotImplementedError(f"{framework} is not importable: {error}") from None
    return peers


def make_peer(peer, width, dtype, optimizer, batch_size, x, y):
    return PEER_CLASSES[peer](width, dtype, optimizer, batch_size, x, y)


def warm_up(peer, x, y, batch_size, width, dtype, optimizer):
    """A throw-away peer trains one epoch on a tiny slice (8 mini-batches): first-call
    costs (lazy imports, allocator, thread pools) are paid before anything is timed."""
    rows = min(len(x), 8 * batch_size)
    make_peer(peer, width, dtype, optimizer, batch_size, x[:rows], y[:rows]).epoch()


class PeerEpoch(common.Benchmark):
    """One training epoch of each peer on the data of ``fit.FitEpoch``."""

    params = (PEERS, common.BATCH_SIZES, common.WIDTHS, common.PEER_DTYPES,
              common.OPTIMIZERS)
    param_names = ["peer", "batch_size", "width", "dtype", "optimizer"]

    def setup(self, peer, batch_size, width, dtype, optimizer):
        x, y = synthetic(common.N_TRAIN, dtype)
        warm_up(peer, x, y, batch_size, width, dtype, optimizer)
        self.peer = make_peer(peer, width, dtype, optimizer, batch_size, x, y)

    def time_epoch(self, peer, batch_size, width, dtype, optimizer):
        self.peer.epoch()


class PeerPredict(common.Benchmark):
    """Each peer's inference: 10,000 rows, and one row."""

    params = (PEERS, common.WIDTHS, common.PEER_DTYPES)
    param_names = ["peer", "width", "dtype"]

    def setup(self, peer, width, dtype):
        self.x, y = synthetic(common.N_PREDICT, dtype, seed=1)
        self.row = np.array(self.x[:1])
        key = (peer, width, dtype)
        if key not in _PREDICTORS:     # setup runs before every sample: build once
            _PREDICTORS[key] = make_peer(peer, width, dtype, "sgd", 32, self.x[:64], y[:64])
            _PREDICTORS[key].predict(self.x)    # JAX and Keras compile each input shape
        self.peer = _PREDICTORS[key]
        self.peer.predict(self.x[:64])
        self.peer.predict(self.row)

    def time_predict(self, peer, width, dtype):
        self.peer.predict(self.x)

    def time_predict_single(self, peer, width, dtype):
        self.peer.predict(self.row)

    time_predict_single.repeat = (50, 1000, 2.0)


_PREDICTORS = {}


class _Speedup(common.Benchmark):
    """Base of the ratio tracks: fastnn and one peer, float32, timed alternately."""

    peer_name = None
    params = (common.BATCH_SIZES, common.WIDTHS, common.SPEEDUP_OPTIMIZERS)
    param_names = ["batch_size", "width", "optimizer"]
    unit = "speedup (peer time / fastnn time)"

    def setup(self, batch_size, width, optimizer):
        if self.peer_name not in PEERS:
            raise NotImplementedError(f"{self.peer_name}: not in the {common.PROFILE} "
                                      "profile's peers")
        dtype = "float32"
        self.x, self.y = synthetic(common.N_TRAIN, dtype)
        # The peer first: PyTorch imported after Numba's OpenMP threading layer has run a
        # parallel (prange) kernel binds to the system libgomp that Numba loaded instead
        # of its own, and its small-op-heavy steps (Adam) then ran ~8x slower here.
        warm_up(self.peer_name, self.x, self.y, batch_size, width, dtype, optimizer)
        self.peer = make_peer(self.peer_name, width, dtype, optimizer, batch_size,
                              self.x, self.y)
        self.model = common.make_model(width, dtype, optimizer)
        common.warm_up(self.model, self.x, self.y, batch_size)

    def _ratio(self, batch_size):
        fastnn_time, peer_time = common.interleaved_best_times(
            lambda: common.fit_epoch(self.model, self.x, self.y, batch_size),
            self.peer.epoch)
        return peer_time / fastnn_time


class SpeedupVsNumpy(_Speedup):
    peer_name = "numpy_reference"

    def track_speedup_vs_numpy(self, batch_size, width, optimizer):
        return self._ratio(batch_size)


class SpeedupVsTorch(_Speedup):
    peer_name = "torch"

    def track_speedup_vs_torch(self, batch_size, width, optimizer):
        return self._ratio(batch_size)


class SpeedupVsSklearn(_Speedup):
    peer_name = "sklearn"

    def track_speedup_vs_sklearn(self, batch_size, width, optimizer):
        return self._ratio(batch_size)


class SpeedupVsJax(_Speedup):
    peer_name = "jax"

    def track_speedup_vs_jax(self, batch_size, width, optimizer):
        return self._ratio(batch_size)


class SpeedupVsKeras(_Speedup):
    peer_name = "keras"

    def track_speedup_vs_keras(self, batch_size, width, optimizer):
        return self._ratio(batch_size)
