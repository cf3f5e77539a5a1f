"""The fixed cost of one ``fit`` call against the compiled call it makes.

``fit(epochs=1)`` on the seed blog's 3-4-1 network and its 4 rows runs one short
``train_epochs`` call; everything else is Python: the argument and data checks,
History, the rates, the engine's buffers. On the 2-core development machine the
kernel call, handed its arguments ready, took ~4 us and the whole fit ~72 us (18x)
before the per-shape state was kept between calls, ~38 us (10x) after. The ceiling
catches the per-call Python creeping back.
"""
import numba
import numpy as np
import pytest

from fastnn import Dense, Sequential
from fastnn._scheduler import _NO_SYNC
from fastnn.engines import part_count
from fastnn.kernels import codes
from fastnn.kernels import network as kernels
from fastnn.kernels.optimizers import update_paths
from fastnn.model_data import check_data
from fastnn.optimizers import SGD

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled")]

CALLS = 20           # calls per timed round: short, so that some miss the host's hiccups
ROUNDS = 100
CEILING = 14.0       # one fit call may cost at most 14 kernel calls
X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)


def _seed_network():
    """The seed blog's 3-4-1 sigmoid network, compiled as ``small.py``'s ``seed_341``."""
    model = Sequential([Dense(4, activation="sigmoid", use_bias=False, input_dim=3),
                        Dense(1, activation="sigmoid", use_bias=False)], dtype="float64",
                       seed=1)
    model.compile(optimizer=SGD(1.0), loss="sse")
    return model


def test_one_fit_call_costs_few_kernel_calls(timing):
    model = _seed_network()
    model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    engine = model._engine
    data = check_data(model, "test", X, Y)
    parts = part_count(4)
    hyper = model.optimizer.hyper(model.dtype)
    buffers, saved, unit_rows, model_codes = engine._call_plan(4, 4, parts)
    args = (np.zeros((1, parts, codes.N_TOTALS)), model._net, buffers, saved, data,
            engine.in_order(1, 4), 4, unit_rows, model_codes,
            (model.optimizer.code, hyper, model.optimizer.rates(1, model.dtype),
             update_paths(model.optimizer.code, hyper)), (model._dropout_spec(), np.int64(0)))

    def fit_calls():
        for _ in range(CALLS):
            model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)

    def kernel_calls():
        for _ in range(CALLS):
            kernels.train_epochs((0, 1, _NO_SYNC), *args)

    fit_calls(), kernel_calls()          # warm-up
    fits, calls = timing.interleaved(fit_calls, kernel_calls, ROUNDS)
    ratio = fits.min() / calls.min()
    assert ratio <= CEILING, (
        f"fit(epochs=1) on 4 rows of 3-4-1 float64 ({ROUNDS} alternating rounds of "
        f"{CALLS} calls): {timing.describe('fit', fits, CALLS, 'us')} per call; "
        f"{timing.describe('train_epochs', calls, CALLS, 'us')} per call; fit/kernel "
        f"{ratio:.1f} is above the ceiling of {CEILING}. What does each fit call "
        "recompute or convert?")


def _blog_loop(iterations):
    """The seed blog's NumPy loop over its 3-4-1 network, as written there."""
    rng = np.random.default_rng(1)
    syn0, syn1 = 2 * rng.random((3, 4)) - 1, 2 * rng.random((4, 1)) - 1
    for _ in range(iterations):
        l1 = 1 / (1 + np.exp(-X.dot(syn0)))
        l2 = 1 / (1 + np.exp(-l1.dot(syn1)))
        l2_delta = (Y - l2) * l2 * (1 - l2)
        l1_delta = l2_delta.dot(syn1.T) * l1 * (1 - l1)
        syn1 += l1.T.dot(l2_delta)
        syn0 += X.T.dot(l1_delta)


BLOG_FLOOR = 5.0  # 11.8-12.9x on the development machine


def test_the_seed_network_trains_many_times_faster_than_the_blogs_loop(timing):
    """The 3-4-1 network's epochs through ``fit`` (one compiled call, History
    complete) against the blog's NumPy iterations, per iteration."""
    model = _seed_network()
    model.fit(X, Y, batch_size=4, epochs=10, shuffle=False, verbose=0)  # compile
    epochs, iterations = 20_000, 2_000
    history = []
    fits, loops = timing.interleaved(
        lambda: history.append(model.fit(X, Y, batch_size=4, epochs=epochs, shuffle=False,
                                         verbose=0)),
        lambda: _blog_loop(iterations), rounds=5)
    assert len(history[-1].history["loss"]) == epochs
    ratio = (loops.min() / iterations) / (fits.min() / epochs)
    assert ratio >= BLOG_FLOOR, (
        f"{ratio:.1f}x: {timing.describe('fit', fits, per=epochs, unit='us')} an epoch, "
        f"{timing.describe('blog', loops, per=iterations, unit='us')} an iteration")
