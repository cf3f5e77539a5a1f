"""Many models at once: ``fastnn.fit_many`` epoch time against K, and its speed as a
ratio to the same K models fit one after another and to JAX's ``vmap`` over them,
measured side by side in the same process (``fastnn.many_bench`` holds the runners,
shared with ``fastnn bench --models``).

Problems: ``tabular`` (K x 8-32-32-1, mse, 16,384 rows) and ``seed`` (K x
784-64-64-10, sparse categorical cross-entropy, ``N_TRAIN`` synthetic rows), SGD with
momentum 0.9 and each model its own learning rate. The ``fast`` profile keeps K
small (asv runs each combination in its own process).
"""
import numpy as np

from fastnn import many_bench

from . import common
from .datasets import synthetic

MODELS = {"fast": [1, 4], "regular": [1, 4, 16, 64, 256]}[common.PROFILE]
RATIO_MODELS = {"fast": [4], "regular": [16, 64]}[common.PROFILE]
PROBLEMS = ["tabular", "seed"]
BATCH_SIZE = 32


def problem_data(problem):
    if problem == "seed":
        x, labels = synthetic(common.N_TRAIN, "float32")
        return x, labels
    return many_bench.problem_data(problem)


class FitManyEpoch(common.Benchmark):
    """One epoch of K models in one ``fit_many`` call: the cost should grow linearly
    with K, with no cliff where the group outgrows a cache."""

    params = (PROBLEMS, MODELS)
    param_names = ["problem", "models"]

    def setup(self, problem, models):
        x, y = problem_data(problem)
        self.runner = many_bench.FitMany(many_bench.make_models(problem, models), x, y)
        many_bench.FitMany(self.runner.models, x[:8 * BATCH_SIZE],
                           y[:8 * BATCH_SIZE]).epoch(BATCH_SIZE)  # compile, warm

    def time_epoch(self, problem, models):
        self.runner.epoch(BATCH_SIZE)

    def track_seconds_per_model(self, problem, models):
        """Epoch seconds divided by K: flat when the cost is linear in K."""
        return common.best_time(lambda: self.runner.epoch(BATCH_SIZE)) / models

    track_seconds_per_model.unit = "s/model"


class _SpeedupVs(common.Benchmark):
    """The peer's epoch time over fit_many's, the two alternating (same machine load)."""

    params = (PROBLEMS, RATIO_MODELS)
    param_names = ["problem", "models"]
    peer = None

    def setup(self, problem, models):
        if self.peer == "jax_vmap" and not many_bench.jax_available():
            raise NotImplementedError("JAX is not installed")
        x, y = problem_data(problem)
        self.ours = many_bench.FitMany(many_bench.make_models(problem, models), x, y)
        self.theirs = many_bench.make_runner(self.peer, many_bench.make_models(problem, models),
                                             x, y)
        self.ours.epoch(BATCH_SIZE)  # compile and warm both
        self.theirs.epoch(BATCH_SIZE)

    def track_speedup(self, problem, models):
        ours, theirs = common.interleaved_best_times(lambda: self.ours.epoch(BATCH_SIZE),
                                                     lambda: self.theirs.epoch(BATCH_SIZE))
        return float(np.float64(theirs) / ours)

    track_speedup.unit = "x"


class SpeedupVsSequentialFits(_SpeedupVs):
    peer = "sequential"


class SpeedupVsJaxVmap(_SpeedupVs):
    peer = "jax_vmap"
