"""Inference speed: batch ``predict`` of 10,000 rows, and the latency of one sample."""
import numpy as np

from . import common
from .datasets import synthetic


class PredictBatch(common.Benchmark):
    """``model.predict(x)`` for x of ``N_PREDICT`` (10,000) rows."""

    params = (common.WIDTHS, common.DTYPES)
    param_names = ["width", "dtype"]

    def setup(self, width, dtype):
        self.x, _ = synthetic(common.N_PREDICT, dtype, seed=1)
        self.model = common.make_model(width, dtype, "sgd")
        self.model.predict(self.x[:64])

    def time_predict(self, width, dtype):
        self.model.predict(self.x)

    def track_rows_per_second(self, width, dtype):
        return self.x.shape[0] / common.best_time(lambda: self.model.predict(self.x))

    track_rows_per_second.unit = "rows/s"


class PredictSingle(common.Benchmark):
    """Latency of ``model.predict(x[:1])``: input checks, dispatch and one forward pass.

    One call per sample (asv re-runs setup between samples, so calls cannot be batched
    inside a sample); many samples, the median reported.
    """

    params = (common.WIDTHS, common.DTYPES)
    param_names = ["width", "dtype"]
    repeat = (50, 1000, 2.0)

    def setup(self, width, dtype):
        x, _ = synthetic(common.N_PREDICT, dtype, seed=1)
        self.row = np.array(x[:1])
        self.model = _single_model(width, dtype)
        self.model.predict(x[:64])
        self.model.predict(self.row)

    def time_predict_single(self, width, dtype):
        self.model.predict(self.row)


_MODELS = {}


def _single_model(width, dtype):
    """The model is built once per process: setup runs before each of many samples."""
    if (width, dtype) not in _MODELS:
        _MODELS[width, dtype] = common.make_model(width, dtype, "sgd")
    return _MODELS[width, dtype]
