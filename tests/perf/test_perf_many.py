"""fit_many against the same models fit one after another, same data and batches.

The small network is where the model axis pays most: each model's products are tiny,
and one fit per model pays the per-call and per-batch overheads K times.
"""
import numba
import pytest

from fastnn import many_bench

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled")]

ROUNDS = 5
MODELS = 32
ROWS = 4_096
# Measured on the 2-core development machine (float32, 32 x 8-32-32-1, batch 32,
# 4,096 rows, best of 5): 7.0-8.0x while each fit ran epoch by epoch; 1.4-2x since a
# quiet fit on a small dataset runs its epochs in one compiled call (the sequential
# fits lost most of their per-epoch Python), on a busy host (load 4-9). The floor
# guards the model axis against falling behind the fits it replaces.
FLOOR = 1.1


def test_fit_many_beats_sequential_fits(timing):
    x, y = many_bench.problem_data("tabular")
    x, y = x[:ROWS], y[:ROWS]
    group = many_bench.FitMany(many_bench.make_models("tabular", MODELS), x, y)
    one_by_one = many_bench.Sequential(many_bench.make_models("tabular", MODELS), x, y)
    group.epoch(32)
    one_by_one.epoch(32)
    ours, theirs = timing.interleaved(lambda: group.epoch(32), lambda: one_by_one.epoch(32),
                                     ROUNDS)
    ratio = theirs.min() / ours.min()
    print(f"fit_many {ratio:.2f}x sequential")
    assert ratio >= FLOOR, (f"fit_many only {ratio:.2f}x faster than {MODELS} sequential "
                            f"fits (floor {FLOOR}x): {timing.describe('fit_many', ours)}; "
                            f"{timing.describe('sequential', theirs)}")
