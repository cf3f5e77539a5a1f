"""The fused training epoch against the NumPy reference, same data, weights and order.

BLAS runs on one thread for both (OpenBLAS's own threading is the noisiest thing on a
shared 2-core machine, and the products are the same BLAS calls in both); fastnn's own
threads are its design and stay. The ratio shows what the fused engine buys: no
Python, temporaries or dispatch per mini-batch, and both cores on one batch.
"""
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastnn import Dense, Sequential
from fastnn.optimizers import SGD
from fastnn.reference import ReferenceMLP

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled")]

N_SAMPLES = 6_000
ROUNDS = 9
# Measured on the 2-core development machine (float32, one BLAS thread, best of 9):
# - batch 32: 1.7-2.1x (fused on one thread alone: ~1.7x);
# - batch 128: 1.44-1.51x at commit 8bb3986, whose epoch split each batch over both
#   cores; 1.00-1.06x at 0a21f53, whose two-thread team was no faster than one thread.
#   One thread against one thread, both are BLAS-bound here (~1.0x).
# With train_epoch replaced by a NumPy loop over mini-batches (the reference's math on
# the flat buffers) the same test measured 0.63-0.69x and 0.70-0.75x. So batch 32 is
# the timing discriminator; batch 128 only guards "not slower than NumPy" (raise it
# toward 1.2 once the epoch uses both cores again). Per-batch Python that keeps the
# compiled kernels (a milder loss of fusion) is caught deterministically by
# test_python_is_not_in_the_batch_loop below, not by timing.
FLOORS = {32: 1.35, 128: 0.85}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((N_SAMPLES, 784), dtype=np.float32)
    y = rng.integers(0, 10, N_SAMPLES)
    return x, y


@pytest.mark.parametrize("batch_size", sorted(FLOORS))
def test_fused_epoch_beats_numpy_reference(data, batch_size, timing):
    x, y = data
    model = Sequential([Dense(64, activation="relu", input_dim=784),
                        Dense(64, activation="relu"),
                        Dense(10, activation="softmax")], dtype="float32", seed=0)
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    weights = model.get_weights()
    reference = ReferenceMLP(weights[0::2], weights[1::2], ["relu", "relu", "softmax"],
                             "sparse_categorical_crossentropy", "sgd", learning_rate=0.01,
                             momentum=0.9)
    targets = np.eye(10, dtype=np.float32)[y]
    order = np.arange(N_SAMPLES)
    # float32 unit weights: the reference's default float64 ones would upcast its
    # float32 backward pass to float64 and flatter fastnn.
    sample_weight = np.ones(N_SAMPLES, dtype=np.float32)
    losses = {"fastnn": [], "reference": []}

    def fused():
        history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        losses["fastnn"].append(history.history["loss"][0])

    def numpy_reference():
        losses["reference"].append(
            reference.train_epoch(x, targets, order, batch_size, sample_weight))

    # Warm-up outside the timing: compilation (or cache load), workspace, first calls.
    # Eight batches: fastnn's engine tries its parallel, then its serial epoch kernel.
    probe = Sequential([Dense(64, activation="relu", input_dim=784),
                        Dense(64, activation="relu"),
                        Dense(10, activation="softmax")], dtype="float32", seed=1)
    probe.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    probe.fit(x[:8 * batch_size], y[:8 * batch_size], batch_size=batch_size, verbose=0)
    ReferenceMLP(weights[0::2], weights[1::2], ["relu", "relu", "softmax"],
                 "sparse_categorical_crossentropy", "sgd", learning_rate=0.01,
                 momentum=0.9).train_epoch(x[:256], targets[:256], order[:256], batch_size,
                                           sample_weight[:256])

    with threadpool_limits(limits=1, user_api="blas"):
        fast, slow = timing.interleaved(fused, numpy_reference, ROUNDS, settle=0.2)

    # The same first epoch from the same weights and order: the fast path trains the
    # same network (a "speedup" that skips work shows here).
    np.testing.assert_allclose(losses["fastnn"][0], losses["reference"][0], rtol=1e-3,
                               err_msg="first-epoch mean loss, fastnn vs NumPy reference")
    speedup = slow.min() / fast.min()
    floor = FLOORS[batch_size]
    assert speedup >= floor, (
        f"one epoch of 784-64-64-10 (float32, SGD momentum, {N_SAMPLES} samples, batch "
        f"{batch_size}, 1 BLAS thread, {ROUNDS} alternating rounds): "
        f"{timing.describe('fastnn fit', fast)}; "
        f"{timing.describe('NumPy ReferenceMLP.train_epoch', slow)}; "
        f"speedup {speedup:.2f}x (best/best) is below the floor of {floor}x. "
        "Lost fusion, an object-mode or NumPy fallback, or per-batch Python in fit?")


def python_calls(function):
    """Number of Python function calls (profiler "call" events) made by ``function()``."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return count


def test_python_is_not_in_the_batch_loop():
    """The deterministic twin of the timing test: the Python work of an epoch must not
    grow with its number of mini-batches (fit touches Python per epoch, or per progress
    chunk, never per batch). A tiny 8-16-4 network keeps 10,000 batches fast."""
    rng = np.random.default_rng(0)
    n = 40_000
    x = rng.random((n, 8), dtype=np.float32)
    y = rng.integers(0, 4, n)
    model = Sequential([Dense(16, activation="relu", input_dim=8),
                        Dense(4, activation="softmax")], dtype="float32", seed=0)
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x[:32], y[:32], batch_size=4, verbose=0)                   # compile
    # Fewest of two fits each: a first fit with a batch size may still load a kernel.
    calls = {batch_size: min(python_calls(lambda: model.fit(x, y, batch_size=batch_size,
                                                            epochs=1, verbose=0))
                             for _ in range(2))
             for batch_size in (4, 64)}
    extra_batches = -(-n // 4) - -(-n // 64)
    per_batch = (calls[4] - calls[64]) / extra_batches
    assert per_batch < 0.1, (
        f"fit(epochs=1) made {calls[4]:,} Python calls with batch 4 ({-(-n // 4):,} "
        f"batches) and {calls[64]:,} with batch 64 ({-(-n // 64):,} batches): "
        f"{per_batch:.2f} extra calls per extra mini-batch, bound 0.1 (measured 0.00-0.01: "
        "Python work is per chunk of batches). Something runs Python once per mini-batch.")
