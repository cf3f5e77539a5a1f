"""Training speed: one epoch of ``Sequential.fit`` by batch size, width, dtype, optimizer.

Each sample times ``model.fit(x, y, batch_size, epochs=1, verbose=0)`` on a freshly
seeded model whose kernels were compiled (or loaded from Numba's cache) and whose
workspace was allocated by a warm-up epoch on a tiny slice in ``setup``.
"""
from . import common
from .datasets import synthetic


class FitEpoch(common.Benchmark):
    """One training epoch of 784-W-W-10 on ``N_TRAIN`` synthetic samples."""

    params = (common.BATCH_SIZES, common.WIDTHS, common.DTYPES, common.OPTIMIZERS)
    param_names = ["batch_size", "width", "dtype", "optimizer"]

    def setup(self, batch_size, width, dtype, optimizer):
        self.x, self.y = synthetic(common.N_TRAIN, dtype)
        self.model = common.make_model(width, dtype, optimizer)
        common.warm_up(self.model, self.x, self.y, batch_size)

    def time_epoch(self, batch_size, width, dtype, optimizer):
        common.fit_epoch(self.model, self.x, self.y, batch_size)

    def track_samples_per_second(self, batch_size, width, dtype, optimizer):
        seconds = common.best_time(
            lambda: common.fit_epoch(self.model, self.x, self.y, batch_size))
        return self.x.shape[0] / seconds

    track_samples_per_second.unit = "samples/s"

    def track_epoch_loss(self, batch_size, width, dtype, optimizer):
        """Mean training loss of the first epoch of a fresh seeded model: a speedup
        that breaks learning shows here."""
        model = common.make_model(width, dtype, optimizer)
        history = common.fit_epoch(model, self.x, self.y, batch_size)
        return history.history["loss"][0]

    track_epoch_loss.unit = "loss"


class FitMemory(common.Benchmark):
    """Peak resident memory of the process around one epoch (data, model, workspace).

    The optimizer is left out of the grid: every optimizer gets the same two state
    slots, so its memory does not change with it.
    """

    params = (common.BATCH_SIZES, common.WIDTHS, common.DTYPES)
    param_names = ["batch_size", "width", "dtype"]

    def setup(self, batch_size, width, dtype):
        self.x, self.y = synthetic(common.N_TRAIN, dtype)
        self.model = common.make_model(width, dtype, "sgd")
        common.warm_up(self.model, self.x, self.y, batch_size)

    def peakmem_fit(self, batch_size, width, dtype):
        common.fit_epoch(self.model, self.x, self.y, batch_size)
