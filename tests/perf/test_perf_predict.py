"""Latency of ``predict`` on one sample against the NumPy reference's forward pass.

fastnn pays input checks in Python (dtype, shape, finiteness) and one compiled call;
the reference pays a NumPy call per layer operation (3 products, 3 bias adds, 2 ReLU,
a max-shifted softmax). On 784-64-64-10 float32 both are ~10-15 us here, fastnn
slightly ahead; the bound catches per-call compilation, allocation or dispatch
creeping into the predict path, and stays well clear of noise.
"""
import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastnn import Dense, Sequential
from fastnn.reference import ReferenceMLP

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled")]

CALLS = 200          # calls per timed round
ROUNDS = 15
CEILING = 2.0        # fastnn's one-row predict may cost at most 2x the reference's


def test_single_sample_predict_not_slower_than_numpy_forward(timing):
    model = Sequential([Dense(64, activation="relu", input_dim=784),
                        Dense(64, activation="relu"),
                        Dense(10, activation="softmax")], dtype="float32", seed=0)
    weights = model.get_weights()
    reference = ReferenceMLP(weights[0::2], weights[1::2], ["relu", "relu", "softmax"],
                             "sparse_categorical_crossentropy")
    row = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    np.testing.assert_allclose(model.predict(row), reference.predict(row), rtol=1e-5,
                               atol=1e-6)

    with threadpool_limits(limits=1, user_api="blas"):
        fast, slow = timing.interleaved_calls(lambda: model.predict(row),
                                              lambda: reference.predict(row), CALLS, ROUNDS)
    ratio = fast.min() / slow.min()
    assert ratio <= CEILING, (
        f"predict of 1 row, 784-64-64-10 float32 ({ROUNDS} alternating rounds of {CALLS} "
        f"calls): {timing.describe('fastnn.predict', fast, CALLS, 'us')} per call; "
        f"{timing.describe('ReferenceMLP.predict', slow, CALLS, 'us')} per call; "
        f"fastnn/reference {ratio:.2f} is above the ceiling of {CEILING}. Is something "
        "compiled, allocated or converted per call?")
