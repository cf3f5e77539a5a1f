"""fastnn.many_bench: its runners train the models they claim to time."""
import numpy as np
import pytest

import fastnn
from fastnn import many_bench


class InOrder:
    """A stand-in Generator whose permutation keeps the order."""

    @staticmethod
    def permutation(n):
        return np.arange(n)


def test_flops_count_forward_weight_gradients_and_deltas():
    # 8-32-32-1: products 8*32 + 32*32 + 32*1 = 1312; no input delta for layer 0.
    assert many_bench.flops_per_epoch("tabular", 2, 10) == 2 * 10 * 2 * (3 * 1312 - 256)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_jax_vmap_trains_the_same_models_as_fit_many(optimizer):
    pytest.importorskip("jax")
    JaxVmap = pytest.importorskip("fastnn_peers.jax", reason="pip install -e ./peers").JaxVmap
    x, y = many_bench.problem_data("tabular")
    x, y = x[:512], y[:512]
    ours = many_bench.make_models("tabular", 3, optimizer, dtype="float32")
    theirs = JaxVmap(many_bench.make_models("tabular", 3, optimizer), x, y)
    theirs.rng = InOrder()
    fastnn.fit_many(ours, x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    theirs.epoch(32)
    theirs.epoch(32)
    for k, model in enumerate(ours):
        for mine, other in zip(model.get_weights(), theirs.params):
            np.testing.assert_allclose(mine, np.asarray(other[k]), rtol=2e-4, atol=2e-5)


def test_sequential_and_fit_many_runners_train_every_model():
    x, y = many_bench.problem_data("tabular")
    for kind in ("fit_many", "sequential"):
        models = many_bench.make_models("tabular", 2)
        before = [m.params.copy() for m in models]
        many_bench.make_runner(kind, models, x[:256], y[:256]).epoch(64)
        assert all(m.optimizer.iterations == 4 for m in models)
        assert all((m.params != b).any() for m, b in zip(models, before))


def test_the_table_names_every_runner_and_the_floor():
    rows = many_bench.bench("tabular", 2, [512], repeats=1, kinds=("fit_many", "sequential"))
    text = many_bench.format_rows("tabular", 2, rows)
    assert "fit_many s/epoch | sequential s/epoch" in text
    assert "sequential / fit_many" in text and "FLOP floor s" in text
    assert rows[0]["floor"] > 0 and len(rows[0]["fit_many"]) == 1
