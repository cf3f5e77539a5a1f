"""Choosing between the serial and the parallel epoch kernel by measured speed.

Both kernels compute bitwise identical results (fastnn.kernels.network), so the
choice changes only speed, and it can change between any two chunks of batches.
Why measure instead of always going parallel: each mini-batch ends in a barrier
between Numba's threads; on an idle machine that costs microseconds, but when
another process holds a core the barrier waits for a descheduled thread, and a
batch-32 epoch measured here went from 0.24 s to several seconds.
"""
import time

import numba

from .kernels import network as kernels

_MAX_PROBE_INTERVAL = 64


class KernelChooser:
    """Picks a kernel per chunk: the fastest so far, probing the other now and then.

    The probe interval doubles each time the probe loses, so a slow kernel costs
    less and less; it resets when the probe wins.
    """

    def __init__(self):
        self.seconds_per_batch = {}
        self.probe_interval = 4
        self.calls_since_probe = 0

    @staticmethod
    def candidates():
        if numba.get_num_threads() > 1:
            return [kernels.train_epoch_parallel, kernels.train_epoch]
        return [kernels.train_epoch]

    def pick(self):
        """The kernel to run the next chunk with."""
        options = self.candidates()
        for kernel in options:
            if kernel not in self.seconds_per_batch:
                return kernel
        best = min(options, key=self.seconds_per_batch.__getitem__)
        self.calls_since_probe += 1
        if len(options) > 1 and self.calls_since_probe >= self.probe_interval:
            self.calls_since_probe = 0
            return next(kernel for kernel in options if kernel is not best)
        return best

    def run(self, kernel, batches, *args):
        """Call ``kernel(*args)`` over ``batches`` mini-batches and record its speed."""
        warm = bool(kernel.signatures)  # a first call compiles or loads: not a timing
        start = time.perf_counter()
        kernel(*args)
        if warm:
            self._record(kernel, (time.perf_counter() - start) / batches)

    def _record(self, kernel, seconds):
        previous = self.seconds_per_batch.get(kernel)
        others = [v for k, v in self.seconds_per_batch.items() if k is not kernel]
        if previous is not None and others and self.calls_since_probe == 0:
            won = seconds < min(others)
            self.probe_interval = 4 if won else min(2 * self.probe_interval,
                                                    _MAX_PROBE_INTERVAL)
        self.seconds_per_batch[kernel] = seconds if previous is None else (previous + seconds) / 2
