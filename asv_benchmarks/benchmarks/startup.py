"""Start-up cost: import, and import + first ``fit`` with a cold or a warm Numba cache.

``timeraw_`` benchmarks return code that asv times in a fresh interpreter (the
interpreter's own start is not counted). The cold case points ``NUMBA_CACHE_DIR`` at a
new empty folder in every sample, so every kernel compiles; the cached case points it
at a folder that a first process filled, which is what a user's second run sees.
"""
import os
import subprocess
import sys
import tempfile
import textwrap

from . import common

FIRST_FIT = """
import numpy as np
import fastnn
from fastnn import Dense, Sequential
from fastnn.optimizers import SGD

x = np.random.default_rng(0).random((256, 784)).astype("{dtype}")
y = np.arange(256) % 10
model = Sequential([Dense(64, activation="relu", input_dim=784),
                    Dense(64, activation="relu"),
                    Dense(10, activation="softmax")], dtype="{dtype}", seed=0)
model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
              loss="sparse_categorical_crossentropy")
model.fit(x, y, batch_size=32, epochs=1, verbose=0)
"""

# The same first epoch as one plain Numba function: the same network, data, products
# (fastnn's BLAS call) and SGD momentum, with none of fit's options, threads, metrics
# or rollback. Its cold compile is the floor for any one kernel calling BLAS here.
FLOOR_FIT = """
import math
import numpy as np
from numba import njit
from fastnn.kernels.blas import _gemm
from fastnn.kernels.dense import NO, YES


@njit
def relu_bias(h, b):
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            h[i, j] = max(h[i, j] + b[j], 0)


@njit
def relu_delta(e, h, db):
    db[:] = 0
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            if h[i, j] <= 0:
                e[i, j] = 0
            db[j] += e[i, j]


@njit
def momentum_step(w, g, v, lr, momentum):
    for i in range(w.shape[0]):
        v[i] = momentum * v[i] - lr * g[i]
        w[i] += v[i]


@njit
def epoch(x, labels, W, B, GW, GB, VW, VB, A, D, xb, lr, momentum, batch):
    n = x.shape[0]
    for start in range(0, n, batch):
        rows = min(start + batch, n) - start
        for i in range(rows):
            for j in range(x.shape[1]):
                xb[i, j] = x[start + i, j]
        h = xb[:rows]
        for l in range(3):
            _gemm(A[l][:rows], h, W[l], NO, YES, 1.0, 0.0)
            if l < 2:
                relu_bias(A[l][:rows], B[l])
            h = A[l][:rows]
        o, d = A[2][:rows], D[2][:rows]
        for i in range(rows):  # softmax and the sparse cross-entropy's delta
            top = o[i, 0] + B[2][0]
            for j in range(o.shape[1]):
                o[i, j] += B[2][j]
                top = max(top, o[i, j])
            total = 0.0
            for j in range(o.shape[1]):
                o[i, j] = math.exp(o[i, j] - top)
                total += o[i, j]
            for j in range(o.shape[1]):
                d[i, j] = (o[i, j] / total - (1.0 if labels[start + i] == j else 0.0)) / rows
        db = GB[2]
        db[:] = 0
        for i in range(rows):
            for j in range(d.shape[1]):
                db[j] += d[i, j]
        for l in range(2, -1, -1):
            below = xb[:rows] if l == 0 else A[l - 1][:rows]
            _gemm(GW[l], D[l][:rows], below, YES, NO, 1.0, 0.0)
            if l > 0:
                _gemm(D[l - 1][:rows], D[l][:rows], W[l], NO, NO, 1.0, 0.0)
                relu_delta(D[l - 1][:rows], A[l - 1][:rows], GB[l - 1])
        for l in range(3):
            momentum_step(W[l].reshape(W[l].size), GW[l].reshape(W[l].size),
                          VW[l].reshape(W[l].size), lr, momentum)
            momentum_step(B[l], GB[l], VB[l], lr, momentum)


rng = np.random.default_rng(0)
x = rng.random((256, 784)).astype("{dtype}")
labels = np.arange(256) % 10
sizes = (784, 64, 64, 10)
W = tuple((rng.standard_normal((sizes[l + 1], sizes[l])) * 0.05).astype("{dtype}")
          for l in range(3))
B = tuple(np.zeros(sizes[l + 1], "{dtype}") for l in range(3))
GW, GB = tuple(map(np.zeros_like, W)), tuple(map(np.zeros_like, B))
VW, VB = tuple(map(np.zeros_like, W)), tuple(map(np.zeros_like, B))
A = tuple(np.zeros((32, sizes[l + 1]), "{dtype}") for l in range(3))
D = tuple(map(np.zeros_like, A))
step = np.dtype("{dtype}").type
epoch(x, labels, W, B, GW, GB, VW, VB, A, D, np.zeros((32, 784), "{dtype}"), step(0.01),
      step(0.9), 32)
"""

FRESH_CACHE = """
import atexit, os, shutil, tempfile
cache = tempfile.mkdtemp(prefix="fastnn-asv-cold-")
atexit.register(shutil.rmtree, cache, True)
os.environ["NUMBA_CACHE_DIR"] = cache
"""

USE_CACHE = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache!r}
"""


def timeraw_import():
    """``import fastnn`` alone (no kernel compiles on import)."""
    return "import fastnn"


class FirstFitCold(common.Benchmark):
    """Import + build + first 1-epoch fit, every kernel compiled from scratch."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    repeat = (2, 5, 120.0)

    def timeraw_first_fit_cold(self, dtype):
        return FIRST_FIT.format(dtype=dtype), FRESH_CACHE


class FirstEpochFloor(common.Benchmark):
    """FirstFitCold's floor: the same first epoch as one plain Numba function
    (``FLOOR_FIT``), compiled from scratch the same way."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    repeat = (2, 5, 120.0)

    def timeraw_first_epoch_floor(self, dtype):
        return FLOOR_FIT.format(dtype=dtype), FRESH_CACHE


class FirstFitCached(common.Benchmark):
    """Import + build + first 1-epoch fit, kernels loaded from a warm on-disk cache."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    repeat = (3, 10, 30.0)

    def setup(self, dtype):
        self.cache = _warm_cache(dtype)

    def timeraw_first_fit_cached(self, dtype):
        return FIRST_FIT.format(dtype=dtype), USE_CACHE.format(cache=self.cache)


_WARMED = set()


def _warm_cache(dtype):
    """A Numba cache folder that one process running FIRST_FIT has filled.

    The folder persists between runs (asv ends its benchmark processes with
    ``os._exit``, so nothing registered at exit would clean it); the warming process
    runs once per benchmark process anyway, so entries that a source change made
    stale are rebuilt before anything is timed.
    """
    cache = os.path.join(tempfile.gettempdir(), f"fastnn-asv-numba-cache-{os.getuid()}")
    if dtype not in _WARMED:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        subprocess.run([sys.executable, "-c", textwrap.dedent(FIRST_FIT.format(dtype=dtype))],
                       env=env, check=True, timeout=600)
        _WARMED.add(dtype)
    return cache
