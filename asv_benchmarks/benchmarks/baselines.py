"""The same epoch, and the same inference, in other engines: fastnn's own NumPy
reference, PyTorch CPU eager, scikit-learn's MLPClassifier, JAX and Keras 3. The peers
are the fastnn-peers package (``peers/`` at the repository root, ``pip install -e
./peers``), the same code ``fastnn bench`` times; where it or a peer's library is not
importable, setup raises NotImplementedError and asv reports the benchmark skipped.
JAX and Keras run in the regular profile only (``common.PEERS``); in the fast profile
their speedup tracks report skipped.

Every peer trains 784-W-W-10 relu/relu/softmax with sparse categorical cross-entropy
from fastnn's initial weights, on the same data, in shuffled mini-batches, with the
suite's optimizer settings (``common.LEARNING_RATE``, ``common.MOMENTUM``; the rest
fastnn's defaults):

- NumPy reference (``fastnn_peers.reference``): ``ReferenceMLP.train_epoch``, one
  Python iteration per mini-batch, unit sample weights of the model dtype.
- PyTorch (``fastnn_peers.torch``): ``torch.nn.Sequential``, softmax folded into
  ``CrossEntropyLoss``, ``torch.set_num_threads(2)``, no DataLoader: index slicing of
  a shuffled permutation.
- scikit-learn (``fastnn_peers.sklearn``): ``MLPClassifier.partial_fit`` (one epoch),
  alpha=0.
- JAX (``fastnn_peers.jax``): each epoch's full batches in ONE jitted ``lax.scan``, the
  partial batch in a jitted step; XLA's default CPU threads. Compiled for the epoch's
  shapes in setup, never inside a timed epoch.
- Keras 3 (``fastnn_peers.keras``): one ``model.fit(epochs=1, shuffle=True)`` per
  epoch, on the JAX backend when jax is installed and ``KERAS_BACKEND`` is unset.
  Setup trains one full and one partial batch first, so the train step is compiled.

The NumPy-based peers train under ``common.numpy_blas_limits(batch_size)``; inference
runs with BLAS's defaults, as fastnn's ``predict`` does.

``track_speedup_vs_*`` time fastnn's epoch and the peer's epoch alternately in one
process (best of ``TRACK_REPEATS`` each) and return peer time / fastnn time: each
ratio is measured side by side, under the same machine load.
"""
import numpy as np

from . import common
from .datasets import synthetic

PEERS = common.PEERS           # the profile's; PEER_NAMES has every peer


# The suite's peer names (recorded in asv's results) -> fastnn_peers' names.
PEER_NAMES = {"numpy_reference": "reference", "torch": "torch", "sklearn": "sklearn",
              "jax": "jax", "keras": "keras"}
BLAS_LIMITED = ("numpy_reference", "sklearn")   # trained under numpy_blas_limits
TORCH_THREADS = 2


class SuitePeer:
    """A ``fastnn_peers`` peer (the same code ``fastnn bench`` times), adapted to the
    suite: built from fastnn's initial weights with the suite's optimizer settings,
    compiled for its batch size in setup; NotImplementedError (a skip for asv) when
    the peers package or the peer's library is not installed."""

    def __init__(self, peer, width, dtype, optimizer, batch_size, x, y):
        peers = _import("fastnn_peers")
        options = {"threads": TORCH_THREADS} if peer == "torch" else {}
        try:
            self.peer = peers.make_peer(
                PEER_NAMES[peer], common.initial_weights(width, dtype), x, y,
                optimizer=optimizer, learning_rate=common.LEARNING_RATE[optimizer],
                momentum=common.MOMENTUM if optimizer == "sgd" else None, seed=common.SEED,
                **options)
        except ImportError as error:
            raise NotImplementedError(f"{peer} is not importable: {error}") from None
        self.batch_size = batch_size
        self.limited = peer in BLAS_LIMITED
        self.peer.prepare(batch_size)

    def epoch(self):
        """One epoch; returns once the work is done (JAX's device included)."""
        if self.limited:
            with common.numpy_blas_limits(self.batch_size):
                self.peer.epoch(self.batch_size)
        else:
            self.peer.epoch(self.batch_size)

    def predict(self, x):
        return self.peer.predict(x)


def _import(name):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise NotImplementedError(f"{name} is not installed ({error}); from the "
                                  "repository root: pip install -e ./peers") from None


def make_peer(peer, width, dtype, optimizer, batch_size, x, y):
    return SuitePeer(peer, width, dtype, optimizer, batch_size, x, y)


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
