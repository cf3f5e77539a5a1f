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
