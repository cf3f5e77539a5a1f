"""Numba's on-disk cache: when fastnn is installed where it cannot write (a system or
read-only site-packages), Numba caches in the user's cache directory, and a second
process loads the kernels from there instead of compiling them again; a cached
kernel that calls another by symbol (``kernels._jit``) loads that one first; and a
cache that another version of fastnn wrote, which this one cannot read, is compiled
again rather than raising."""
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
import pytest

from fastnn.kernels import blas, layout
from fastnn.kernels._jit import StaleCacheEntry, _Reload, kernel

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import numpy as np
from fastnn import Dense, Sequential
from fastnn.kernels import network
model = Sequential([Dense(4, activation="relu", input_dim=3), Dense(2, activation="softmax")],
                   seed=0)
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
model.fit(np.ones((8, 3)), np.zeros(8), epochs=1, verbose=0)
print("hits", sum(network.train_epochs.stats.cache_hits.values()),
      "misses", sum(network.train_epochs.stats.cache_misses.values()))
"""


def make_read_only(folder):
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0 and sys.platform.startswith("linux")
                    and not shutil.which("setpriv"), reason="root writes anywhere")
def test_a_read_only_install_caches_in_the_user_cache():
    # Not pytest's tmp_path: its parents are private to the user running the tests.
    base = Path(tempfile.mkdtemp(prefix="fastnn-cache-"))
    base.chmod(0o755)
    try:
        run_twice_read_only(base)
    finally:
        for path in [base, *base.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(base)


def run_twice_read_only(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(ROOT / "fastnn", site / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    shutil.copytree(ROOT / "kernels", site / "fastnn" / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    make_read_only(site)
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    # -S: no site hooks, so the checkout's editable install cannot shadow the copy; the
    # environment's packages (NumPy, Numba) come after it on the path.
    packages = [path for path in sys.path if path.endswith("site-packages")]
    env.update(PYTHONPATH=os.pathsep.join([str(site)] + packages), HOME=str(home),
               XDG_CACHE_HOME=str(home / ".cache"))
    command = [sys.executable, "-S", "-c", SCRIPT]
    if os.geteuid() == 0:  # root ignores permissions: run as nobody, as a user would be
        home.chmod(0o777)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + command
    runs = [subprocess.run(command, env=env, capture_output=True, text=True, timeout=900,
                           cwd=home) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert "misses 1" in runs[0].stdout or "hits 0" in runs[0].stdout, runs[0].stdout
    assert "hits 1" in runs[1].stdout, runs[1].stdout  # loaded, not compiled again
    assert not list(site.rglob("*.nbi")), "wrote into the read-only package"
    assert list(home.rglob("*.nbi")), "nothing cached in the user cache"


CALLS_BY_SYMBOL = """
import numpy as np
import fastnn
from fastnn import Dense, Sequential
from fastnn.kernels import network

def build(seed):
    model = Sequential([Dense(6, activation="relu", input_dim=3),
                        Dense(3, activation="softmax")], seed=seed)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model

x = np.random.default_rng(0).random((64, 3)); y = np.arange(64) % 3
one = build(0)
one.fit(x, y, batch_size=8, epochs=2, verbose=0)
many = [build(seed) for seed in (1, 2)]
fastnn.fit_many(many, x, y, batch_size=8, epochs=2, verbose=0)
print("weights", [float(w.sum()) for m in [one] + many for w in m.get_weights()])
print("epoch kernel hits", sum(network.train_epochs.stats.cache_hits.values()))
"""


def calls_by_symbol(cache):
    """The lines ``CALLS_BY_SYMBOL`` prints, run in a fresh process on the Numba cache
    folder ``cache``."""
    result = subprocess.run([sys.executable, "-c", CALLS_BY_SYMBOL], capture_output=True,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)), text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


@pytest.mark.slow
def test_a_cached_kernel_loads_the_kernels_it_calls_even_compiled_again(tmp_path):
    """The epoch kernels call ``_gemm`` and the activations by symbol. Loaded from the
    cache in a fresh process they find them; and when those were compiled again
    since (their cache entries gone, as when another process rewrote them), the
    symbols the cached callers name still reach them."""
    compiled, cached = calls_by_symbol(tmp_path), calls_by_symbol(tmp_path)
    assert cached[1] == "epoch kernel hits 1" and cached[0] == compiled[0]
    removed = [path for pattern in ("blas._gemm-*", "activations._bias_activation-*")
               for path in tmp_path.rglob(pattern)]
    assert removed
    for path in removed:
        path.unlink()
    again = calls_by_symbol(tmp_path)
    assert again[1] == "epoch kernel hits 1" and again[0] == compiled[0]


def test_a_large_kernel_is_called_by_symbol_not_linked_into_its_callers():
    @kernel(cache=False)  # compiled here: a library loaded from the cache has no IR to read
    def product(c, a, b):
        blas._gemm(c, a, b, False, False, 1.0, 0.0)

    a = np.arange(6.0).reshape(2, 3)
    c = np.empty((2, 2))
    product(c, a, a.T.copy())
    np.testing.assert_allclose(c, a @ a.T)
    code = product.inspect_llvm(product.signatures[0])
    gemm = [line for line in code.splitlines() if "4blas5_gemm" in line
            and line.startswith(("define", "declare"))]
    assert gemm and all(line.startswith("declare") for line in gemm), gemm


def test_a_cached_call_of_a_kernel_this_version_lacks_is_a_stale_entry():
    with pytest.raises(StaleCacheEntry, match="does not define"):
        _Reload("fastnn.kernels.network", "_renamed_since", (), "_ZN6fastnn")()


class Renamed:
    """Stands for a class an older fastnn had and this one does not."""


def index_naming_a_missing_class():
    """A cache index as Numba writes it, whose signatures name a class of
    ``fastnn.kernels.layout`` that this version lacks (as an older index named the
    named tuples that plain tuples replaced)."""
    Renamed.__module__, Renamed.__qualname__ = layout.__name__, "Renamed"
    layout.Renamed = Renamed
    try:
        payload = pickle.dumps(("an older source", {((Renamed,), "cpu"): "entry"}))
    finally:
        del layout.Renamed
    return pickle.dumps(numba.__version__) + payload


@pytest.mark.slow
def test_a_cache_written_by_another_version_is_compiled_again(tmp_path):
    """The epoch kernel's entries cut short, then every kernel's index naming a class
    this version lacks: each time the fits compile again and train as before, and
    their new entries load in the next process."""
    compiled = calls_by_symbol(tmp_path)
    entries = list(tmp_path.rglob("network.train_epochs-*.nbc"))
    assert entries
    for path in entries:
        path.write_bytes(path.read_bytes()[:100])
    assert calls_by_symbol(tmp_path) == [compiled[0], "epoch kernel hits 0"]
    for path in tmp_path.rglob("*.nbi"):
        path.write_bytes(index_naming_a_missing_class())
    assert calls_by_symbol(tmp_path) == [compiled[0], "epoch kernel hits 0"]
    assert calls_by_symbol(tmp_path) == [compiled[0], "epoch kernel hits 1"]
