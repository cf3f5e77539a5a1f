"""Engines run the kernels for a model: the CPU one on host buffers, the CUDA one on
device-resident copies. The model decides everything else (validation, callbacks,
rollback); an engine only trains epochs, evaluates and predicts.

Every engine has: ``train_epoch(data, order, batch_size, hyper, rates, on_chunk)``
returning the epoch's totals (N_TOTALS,), ``evaluate(data, capacity)`` returning
totals, ``predict(x, capacity)`` returning outputs, and ``begin_fit``/``end_fit``.
"""
import numpy as np

from . import _threads
from ._scheduler import TeamRunner
from .kernels import blas, codes
from .kernels import network as kernels
from .kernels.layout import train_buffers
from .kernels.losses import kernel_codes
from .kernels.optimizers import update_paths

# Kernel calls per epoch, at most: the progress bar updates and the team size is
# revisited between calls. On the CPU, once the speed is known, a call also gets at
# least CALL_SECONDS of batches: 40 calls cost 5-10 ms of a 0.09-0.15 s epoch.
CHUNKS_PER_EPOCH = 40
CALL_SECONDS = 0.02
# Batches up to this size split the first layer by units across the threads, larger
# ones by rows (fastnn.kernels.network explains both). A deterministic rule, not a
# measured choice: the two round differently, and a fit must be reproducible. At 128
# the unit split measured ~5% ahead with MKL, and 20-30% ahead with OpenBLAS once its
# products ran in small blocks (``unit_rows``); from 256 to 1024 level with OpenBLAS.
SPLIT_UNITS_UP_TO = 128
# Rows per part at least when a mini-batch is split across threads.
MIN_ROWS_PER_PART = 8
# Sample indices of an unshuffled run kept for the next fit call, at most (32 KB).
_KEPT_ORDERS = 4096


def part_count(batch_size):
    """Parts each mini-batch splits into: one per thread Numba may run
    (``NUMBA_NUM_THREADS``, the core count unless set), with at least
    MIN_ROWS_PER_PART rows each. Fixed per fit, it decides the rounding; the team
    that runs the parts (``numba.set_num_threads``, at most this many) decides only
    the speed: every team size gives bitwise the same result."""
    return max(1, min(_threads.max_threads(), batch_size // MIN_ROWS_PER_PART))


def chunks(n_samples, batch_size):
    """(first batch, last batch, first sample, last sample) of each kernel call."""
    n_batches = -(-n_samples // batch_size)
    per_call = max(1, -(-n_batches // CHUNKS_PER_EPOCH))
    for first in range(0, n_batches, per_call):
        last = min(first + per_call, n_batches)
        yield first, last, first * batch_size, min(last * batch_size, n_samples)


class CpuEngine:
    """The Numba CPU kernels on the model's own arrays."""

    def __init__(self, model):
        self.model = model
        self._workspace_key = None
        self._workspace = None
        self._grads = None
        self._saved = None  # train_epochs' epoch-start snapshot (params, state)
        self._runners = {}
        self._plan = None  # (key, what _run passes for it): see _call_plan
        self._in_order = None  # see in_order

    def workspace(self, capacity):
        """(acts, deltas) for training batches of up to ``capacity`` rows, each
        (capacity * sum(sizes),); reused while the capacity holds."""
        if self._workspace_key != capacity:
            size = capacity * self.model._row_values
            self._workspace = (np.empty(size, self.model.dtype), np.empty(size, self.model.dtype))
            self._workspace_key = capacity
        return self._workspace

    def begin_fit(self, data, validation, batch_size):
        pass

    def end_fit(self):
        pass

    def train_epoch(self, data, order, batch_size, hyper, rates, on_chunk):
        n = order.shape[0]
        runner = self._runner(batch_size, part_count(batch_size))
        part_totals = np.zeros((1, runner.parts, codes.N_TOTALS))  # one "epoch" a chunk
        totals = part_totals[0, 0]
        for workers, first, last in runner.calls(-(-n // batch_size), CHUNKS_PER_EPOCH,
                                                 CALL_SECONDS):
            start, stop = first * batch_size, min(last * batch_size, n)
            # Each call accumulates into the same totals: a chunk is an "epoch" of its own.
            self._run(runner, workers, last - first, part_totals, data, order[None, start:stop],
                      batch_size, min(batch_size, n), hyper, rates[first:last],
                      self.model.optimizer.iterations + first)
            totals = part_totals[0].sum(axis=0)
            if totals[codes.T_DIVERGED]:
                break
            on_chunk(stop - start, totals)
        return totals

    def train_epochs(self, data, orders, batch_size, hyper, rates):
        """Train ``len(orders)`` epochs in one compiled call (``train_epochs``).

        Returns the totals (epochs run, N_TOTALS) of each epoch run: all of them, or up
        to one whose loss or weights turned non-finite, marked T_DIVERGED, with the
        weights and state of its start restored.
        """
        runner = self._runner(batch_size, part_count(batch_size))
        epoch_totals = np.zeros((orders.shape[0], runner.parts, codes.N_TOTALS))
        batches = orders.shape[0] * -(-orders.shape[1] // batch_size)
        self._run(runner, runner.pick(), batches, epoch_totals, data, orders, batch_size,
                  min(batch_size, orders.shape[1]), hyper, rates,
                  self.model.optimizer.iterations)
        # One part: its row is the sum (0.0 + x, as np.sum starts, without its ~2 us).
        totals = (epoch_totals[:, 0] + 0.0 if runner.parts == 1
                  else epoch_totals.sum(axis=1))
        if totals.shape[0] == 1:  # one epoch: run, or diverged and marked
            return totals
        diverged = np.flatnonzero(totals[:, codes.T_DIVERGED])
        return totals[:diverged[0] + 1] if diverged.size else totals

    def in_order(self, count, n):
        """``count`` rows of 0 .. n-1 for ``train_epochs`` without shuffling; a small
        one is kept for the next call of the same shape (the kernels only read it)."""
        if self._in_order is not None and self._in_order.shape == (count, n):
            return self._in_order
        orders = np.empty((count, n), dtype=np.int64)
        orders[:] = np.arange(n)
        if count * n <= _KEPT_ORDERS:
            self._in_order = orders
        return orders

    def _run(self, runner, workers, batches, epoch_totals, data, orders, batch_size,
             capacity, hyper, rates, step):
        """``train_epochs`` over ``orders`` (E, n) on a team of ``workers``, in a
        workspace of ``capacity`` rows (the epoch's batch size: one workspace serves
        every chunk of it); ``step`` is the first batch's training step (dropout's)."""
        model = self.model
        buffers, saved, unit_rows, model_codes = self._call_plan(batch_size, capacity,
                                                                 runner.parts)
        runner.run(workers, batches, epoch_totals, model._net, buffers, saved, data, orders,
                   batch_size, unit_rows, model_codes,
                   (model.optimizer.code, hyper, rates, update_paths(model.optimizer.code, hyper)),
                   (model._dropout_spec(), np.int64(step)))

    def _call_plan(self, batch_size, capacity, parts):
        """(buffers, snapshot, unit_rows, codes) of ``_run``, kept from the last call
        while the batch size, capacity and parts stay and the model's arrays, loss and
        metrics are the same objects (compile and build replace them): a small
        problem's fit is one short kernel call, and working these out again cost
        about as much as the call."""
        model = self.model
        plan = self._plan
        if (plan is None or plan[0] != (batch_size, capacity, parts)
                or plan[1] is not model.params or plan[2] is not model._state
                or plan[3] is not model._loss_spec or plan[4] is not model._metric_logs):
            unit_rows = kernels.split_by_units(
                self.unit_rows(batch_size, parts) if batch_size <= SPLIT_UNITS_UP_TO else 0,
                model._net)
            plan = self._plan = ((batch_size, capacity, parts), model.params, model._state,
                                 model._loss_spec, model._metric_logs,
                                 (self._buffers(capacity, parts), self._snapshot(), unit_rows,
                                  kernel_codes(model._codes())))
        return plan[5]

    def _runner(self, batch_size, parts):
        """The TeamRunner of a batch size, made on first use: its timings carry over."""
        runner = self._runners.get((batch_size, parts))
        if runner is None:
            runner = self._runners[batch_size, parts] = TeamRunner(parts)
        return runner

    def _snapshot(self):
        """Scratch (params, state) for ``train_epochs``' epoch-start copies."""
        model = self.model
        if (self._saved is None or self._saved[0].shape != model.params.shape
                or self._saved[1].shape != model._state.shape):  # a recompile may add a slot
            self._saved = (np.empty_like(model.params), np.empty_like(model._state))
        return self._saved

    def _buffers(self, capacity, parts):
        """The ``train_buffers`` of batches of up to ``capacity`` rows in ``parts`` parts."""
        model = self.model
        acts, deltas = self.workspace(capacity)
        if self._grads is None or self._grads.shape != (parts, model.params.size):
            self._grads = np.zeros((parts, model.params.size), dtype=model.dtype)
        return train_buffers(model.params, self._grads, model._state, acts, deltas)

    def unit_rows(self, batch_size, parts):
        """Rows per product of the first layer split by units (``train_epochs``'
        ``unit_rows``): the whole batch, unless the BLAS is faster on smaller blocks."""
        inputs, units = self.model._net[0][:2]
        rows = blas.small_product_rows(-(-int(units) // parts), inputs)
        return rows if 0 < rows < batch_size else batch_size

    def evaluate(self, data, capacity):
        model = self.model
        # Private workspaces here and in predict: both may run from several threads.
        acts = np.empty(capacity * model._row_values, model.dtype)
        totals = np.zeros(codes.N_TOTALS)
        kernels.evaluate(totals, model._net, model.params, acts, data,
                         np.arange(data[0].shape[0]), kernel_codes(model._codes()),
                         capacity)
        return totals

    def predict(self, x, capacity):
        model = self.model
        out = np.empty((x.shape[0], int(model._net[0][-1])), dtype=model.dtype)
        acts = np.empty(capacity * model._row_values, model.dtype)
        kernels.predict(out, model._net, model.params, acts, x, capacity)
        return out


class CudaEngine:
    """The cuda.jit kernels with every buffer resident on the GPU during ``fit``.

    Training and validation data are copied to the device once per fit; the weights
    and optimizer state go up at each epoch's start and come back at its end (so
    callbacks see and may change them), never inside the batch loop.
    """

    def __init__(self, model):
        from ._cuda import require_cuda
        from .kernels.cuda import network as device_kernels

        self.cuda = require_cuda("compile(device='cuda')")
        self.kernels = device_kernels
        self.model = model
        self._fit = None

    def begin_fit(self, data, validation, batch_size):
        model, cuda = self.model, self.cuda
        total = model._row_values
        batch_size = min(batch_size, data[0].shape[0])  # the workspace never exceeds the data
        self._fit = {
            "data": (data, self.kernels.to_device(data)),
            "validation": None if validation is None else (validation,
                                                          self.kernels.to_device(validation)),
            "params": cuda.to_device(model.params),
            "grads": cuda.device_array(model.params.size, dtype=model.dtype),
            "state": cuda.to_device(model._state),
            "acts": cuda.device_array(batch_size * total, dtype=model.dtype),
            "deltas": cuda.device_array(batch_size * total, dtype=model.dtype),
            "scratch": self.kernels.allocate_scratch(batch_size, len(model.layers)),
        }

    def end_fit(self):
        self._fit = None

    def _device_data(self, data):
        """Device copies of ``data``: the fit's own when it is the same tuple."""
        for key in ("data", "validation"):
            held = self._fit and self._fit[key]
            if held and held[0] is data:
                return held[1]
        return self.kernels.to_device(data)

    def train_epoch(self, data, order, batch_size, hyper, rates, on_chunk):
        fit, cuda, model = self._fit, self.cuda, self.model
        fit["params"].copy_to_device(model.params)
        fit["state"].copy_to_device(model._state)
        totals = cuda.to_device(np.zeros(codes.N_TOTALS))
        order_device, hyper_device = cuda.to_device(order), cuda.to_device(hyper)
        rates_device = cuda.to_device(rates)
        buffers = (fit["params"], fit["grads"], fit["state"], fit["acts"], fit["deltas"])
        device_data = self._device_data(data)
        host_totals = np.zeros(codes.N_TOTALS)
        for first, last, start, stop in chunks(order.shape[0], batch_size):
            self.kernels.train_epoch(totals, model._net, buffers, device_data,
                                     order_device[start:stop], batch_size, model._codes(),
                                     (model.optimizer.code, hyper_device,
                                      rates_device[first:last]), scratch=fit["scratch"])
            host_totals = totals.copy_to_host()
            if host_totals[codes.T_DIVERGED]:
                break
            on_chunk(stop - start, host_totals)
        fit["params"].copy_to_host(model.params)
        fit["state"].copy_to_host(model._state)
        return host_totals

    def evaluate(self, data, capacity):
        model, cuda = self.model, self.cuda
        acts = cuda.device_array(capacity * model._row_values, dtype=model.dtype)
        totals = cuda.to_device(np.zeros(codes.N_TOTALS))
        if self._fit:  # during fit: refresh the resident copy instead of a new one
            params = self._fit["params"]
            params.copy_to_device(model.params)
        else:
            params = cuda.to_device(model.params)
        self.kernels.evaluate(totals, model._net, params, acts, self._device_data(data),
                              model._codes(), capacity)
        return totals.copy_to_host()

    def predict(self, x, capacity):
        model, cuda = self.model, self.cuda
        out = cuda.device_array((x.shape[0], int(model._net[0][-1])), dtype=model.dtype)
        acts = cuda.device_array(capacity * model._row_values, dtype=model.dtype)
        self.kernels.predict(out, model._net, cuda.to_device(model.params), acts,
                             cuda.to_device(x), capacity)
        return out.copy_to_host()
