"""Which BLAS the kernels call (fastnn.kernels.blas): MKL on Intel CPUs when installed,
else SciPy's OpenBLAS, or what FASTNN_BLAS forces; both train the same network to the
same weights."""
import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from fastnn.kernels import blas
from fastnn.kernels.blas import _fixed_gemm
from fastnn.kernels.dense import NO, YES



def _mkl_installed():
    try:
        importlib.metadata.distribution("mkl")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


FIT_SCRIPT = """
import sys, numpy as np
from fastnn import Dense, Sequential
from fastnn.kernels import blas
rng = np.random.default_rng(0)
x = rng.standard_normal((300, 20)); y = rng.integers(0, 4, 300)
model = Sequential([Dense(16, activation="relu", input_dim=20), Dense(4, activation="softmax")],
                   seed=0, dtype="float64")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, y, batch_size=32, epochs=3, verbose=0)
np.save(sys.argv[1], model.params)
print(blas.PROVIDER)
"""


def fit_with(provider, path):
    """(provider reported, trained parameters) of a fit in a fresh process."""
    env = dict(os.environ, FASTNN_BLAS=provider)
    result = subprocess.run([sys.executable, "-c", FIT_SCRIPT, str(path)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), np.load(path)


def test_scipy_is_used_when_asked(tmp_path):
    provider, _ = fit_with("scipy", tmp_path / "w.npy")
    assert provider == "scipy-openblas"


@pytest.mark.skipif(not _mkl_installed(), reason="the mkl package is not installed (pip install "
                                        "'fastnn-mlp[mkl]')")
def test_auto_picks_mkl_on_intel_cpus_only(tmp_path):
    provider, _ = fit_with("auto", tmp_path / "w.npy")
    intel = blas.cpu_vendor() == "GenuineIntel"
    assert provider == ("mkl" if intel else "scipy-openblas")


@pytest.mark.skipif(not _mkl_installed(), reason="the mkl package is not installed (pip install "
                                        "'fastnn-mlp[mkl]')")
def test_mkl_trains_as_openblas_does(tmp_path):
    provider, mkl_weights = fit_with("mkl", tmp_path / "mkl.npy")
    assert provider == "mkl"
    _, openblas_weights = fit_with("scipy", tmp_path / "openblas.npy")
    np.testing.assert_allclose(mkl_weights, openblas_weights, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("choice, vendor, mkl", [
    ("auto", "GenuineIntel", True), ("auto", "AuthenticAMD", False), ("auto", "", False),
    ("mkl", "AuthenticAMD", True), ("scipy", "GenuineIntel", False)])
def test_the_choice_rule(choice, vendor, mkl):
    assert blas._wants_mkl(choice, vendor) is mkl


def test_the_cpu_vendor_is_read_on_linux():
    if not os.path.exists("/proc/cpuinfo"):
        assert blas.cpu_vendor() == ""
    else:
        lines = [line for line in open("/proc/cpuinfo") if line.startswith("vendor_id")]
        assert blas.cpu_vendor() == (lines[0].split(":")[1].strip() if lines else "")


def test_the_second_test_pass_names_the_other_library():
    assert blas.other_choice() == ("scipy" if blas.PROVIDER == "mkl"
                                   else "mkl" if _mkl_installed() else "scipy")


def test_a_bad_choice_is_named(monkeypatch):
    monkeypatch.setenv("FASTNN_BLAS", "openblas")
    with pytest.raises(ValueError, match=r"FASTNN_BLAS must be 'auto', 'mkl' or 'scipy', "
                                         r"got 'openblas'"):
        blas._bind_blas()


def test_asking_for_missing_mkl_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("FASTNN_BLAS", "mkl")
    monkeypatch.setattr(blas, "_mkl_library", lambda: None)
    with pytest.raises(ImportError, match=r"pip install 'fastnn-mlp\[mkl\]'"):
        blas._bind_blas()


@pytest.mark.skipif(not _mkl_installed(), reason="the mkl package is not installed")
def test_mkl_loaded_by_another_library_is_left_alone():
    """An MKL already in the process (an MKL build of NumPy, say) keeps its own
    threading layer: fastnn falls back to SciPy's OpenBLAS rather than change it."""
    script = ("import ctypes, importlib.metadata, os\n"
              "path = next(f for f in importlib.metadata.files('mkl')\n"
              "            if f.name.startswith('libmkl_rt.so')).locate()\n"
              "ctypes.CDLL(os.path.realpath(path))\n"
              "from fastnn.kernels import blas\n"
              "print(blas.PROVIDER)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, FASTNN_BLAS="auto"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "scipy-openblas"


@pytest.mark.parametrize("core, units, inputs, rows", [
    ("SkylakeX", 32, 784, 32),       # the seed network's unit-split products
    ("SkylakeX", 16, 784, 64),
    ("SapphireRapids", 20, 784, 48),
    ("SkylakeX", 256, 784, 0),       # no block of 16 rows fits under 100**3
    ("Haswell", 32, 784, 0),         # no unpacked small-matrix path
    ("Zen", 32, 784, 0),
    ("", 32, 784, 0),                # MKL, or an OpenBLAS that is not SciPy's
])
def test_small_product_rows(monkeypatch, core, units, inputs, rows):
    monkeypatch.setattr(blas, "_openblas_core", lambda: core)
    assert blas.small_product_rows(units, inputs) == rows
    if rows:
        assert rows * units * inputs <= 100 ** 3 < (rows + 16) * units * inputs


def test_the_openblas_core_is_read_from_scipys_library():
    core = blas._openblas_core()
    if blas.PROVIDER == "mkl":
        assert core == ""
    else:
        assert isinstance(core, str) and core, "SciPy's OpenBLAS reported no core type"


def test_the_unit_split_blocks_only_when_the_blas_gains(monkeypatch):
    from fastnn import Dense, Sequential
    from fastnn.engines import CpuEngine
    model = Sequential([Dense(64, activation="relu", input_dim=784),
                        Dense(10, activation="softmax")])
    model.build()
    engine = CpuEngine(model)
    monkeypatch.setattr(blas, "_openblas_core", lambda: "SkylakeX")
    assert [engine.unit_rows(b, 2) for b in (16, 32, 33, 128)] == [16, 32, 32, 32]
    monkeypatch.setattr(blas, "_openblas_core", lambda: "Haswell")
    assert [engine.unit_rows(b, 2) for b in (16, 32, 33, 128)] == [16, 32, 33, 128]


@njit
def _fixed_products(out, dw, dx, a, w, d, units, inputs, table, rows):
    """The three per-model products of a deeper layer, model by model on column
    blocks, as the group kernel runs them."""
    for m in range(w.shape[0] // units):
        _fixed_gemm(out[:, m * units:(m + 1) * units], a[:, m * inputs:(m + 1) * inputs],
                    w[m * units:(m + 1) * units], NO, YES, table[0], rows)
        _fixed_gemm(dw[m * units:(m + 1) * units], d[:, m * units:(m + 1) * units],
                    a[:, m * inputs:(m + 1) * inputs], YES, NO, table[1], rows)
        _fixed_gemm(dx[:, m * inputs:(m + 1) * inputs], d[:, m * units:(m + 1) * units],
                    w[m * units:(m + 1) * units], NO, NO, table[2], rows)


def _layer_products(dtype, models, rows, units, inputs, table_rows=None):
    """Run ``_fixed_products`` on random data; returns (outputs, expected, table)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, models * inputs)).astype(dtype)
    w = rng.standard_normal((models * units, inputs)).astype(dtype)
    d = rng.standard_normal((rows, models * units)).astype(dtype)
    from fastnn.kernels.group import product_table
    sizes = np.array([3, inputs, units])
    table = product_table(sizes, dtype, models, rows if table_rows is None else table_rows,
                          0)[0, 1]
    out = np.full((rows, models * units), np.nan, dtype)
    dw, dx = np.full_like(w, np.nan), np.full_like(a, np.nan)
    _fixed_products(out, dw, dx, a, w, d, units, inputs, table, rows)
    blocks = range(models)
    expected = (
        np.hstack([a[:, m * inputs:(m + 1) * inputs] @ w[m * units:(m + 1) * units].T
                   for m in blocks]),
        np.vstack([d[:, m * units:(m + 1) * units].T @ a[:, m * inputs:(m + 1) * inputs]
                   for m in blocks]),
        np.hstack([d[:, m * units:(m + 1) * units] @ w[m * units:(m + 1) * units]
                   for m in blocks]))
    return (out, dw, dx), expected, table


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("models, rows, units, inputs", [(3, 32, 32, 32), (2, 7, 1, 5),
                                                         (4, 1, 9, 16)])
def test_generated_products_equal_the_general_ones(dtype, tolerance, models, rows, units,
                                                   inputs):
    """MKL's generated small-product kernels compute what the general GEMM does, on
    column blocks of wide arrays; where MKL is not the provider there are none."""
    results, expected, table = _layer_products(dtype, models, rows, units, inputs)
    if blas.PROVIDER == "mkl":
        assert (table[:, 1] != 0).all() and (table[:, 0] == rows).all()
    else:
        assert (table[:, 1:] == 0).all()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * 10)


def test_a_batch_of_other_rows_takes_the_general_product():
    """A kernel made for 32 rows is never called on a batch of 7: the general GEMM
    runs instead, with the right answer."""
    results, expected, table = _layer_products(np.float64, 2, 7, 4, 5, table_rows=32)
    assert (table[:, 0] == 32).all()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)


@njit
def _products(c, a, b, trans_a, trans_b, alpha, beta):
    blas._gemm(c, a, b, trans_a, trans_b, alpha, beta)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("m, n, k", [(4, 4, 3), (4, 1, 4), (1, 8, 16), (2, 8, 8), (3, 8, 8)])
@pytest.mark.parametrize("trans_a, trans_b", [(NO, NO), (NO, YES), (YES, NO)])
def test_small_products_run_as_loops_with_gemms_contract(dtype, tolerance, m, n, k, trans_a,
                                                         trans_b):
    """Products of at most LOOP_PRODUCT_UP_TO multiply-adds skip BLAS (2 x 8 x 8 is
    the last of them here): C = alpha op(A) op(B) + beta C, beta = 0 never reading C,
    on column blocks as on whole arrays."""
    assert 2 * 8 * 8 <= blas.LOOP_PRODUCT_UP_TO < 3 * 8 * 8
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    product = (a.T if trans_a else a) @ (b.T if trans_b else b)
    c = np.full((m, n), np.nan, dtype)
    _products(c, a, b, trans_a, trans_b, -0.5, 0.0)
    np.testing.assert_allclose(c, -0.5 * product, rtol=tolerance, atol=tolerance)
    wide = np.ones((m, 2 * n + 1), dtype)  # a column block: rows one stride apart
    _products(wide[:, 1:n + 1], a, b, trans_a, trans_b, 2.0, 1.0)
    np.testing.assert_allclose(wide[:, 1:n + 1], 2 * product + 1, rtol=tolerance,
                               atol=tolerance)
    assert (wide[:, 0] == 1).all() and (wide[:, n + 1:] == 1).all()
