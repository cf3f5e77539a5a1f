"""Running the epoch kernel with a team of threads, sized by measured speed.

``train_batches`` computes bitwise the same result whatever the team's size
(fastnn.kernels.network), so the size changes only speed, and it can change between
any two chunks of batches. Why measure instead of always using every core: the team
meets at a barrier two or four times per mini-batch; on an idle machine that costs about a
microsecond, but when another process holds a core the barrier waits for a
descheduled thread, and one thread alone is faster.
"""
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .kernels import network as kernels

# Chunks between probes of a losing team size, at most: a noisy probe must not lock a
# size out for long (an epoch is up to 40 chunks, fewer when it is fast).
_MAX_PROBE_INTERVAL = 16


class TeamRunner:
    """Calls ``train_batches`` with the fastest team size so far, probing the others
    now and then. The probe interval doubles each time a probe loses, so a slow size
    costs less and less; it resets when the probe wins.
    """

    def __init__(self):
        self.seconds_per_batch = {}
        self._warmed = set()  # sizes run once: the first run starts threads, fills caches
        self.probe_interval = 4
        self.calls_since_probe = 0
        self._pool = None
        self._is_compiled = False

    def _compiled(self):
        """Whether ``train_batches`` is compiled (or loaded from cache): asked of Numba
        until it is, as each question costs ~40 us."""
        if not self._is_compiled:
            # Under NUMBA_DISABLE_JIT the kernel is plain Python: there is nothing to compile.
            self._is_compiled = (numba.config.DISABLE_JIT
                                 or bool(kernels.train_batches.signatures))
        return self._is_compiled

    @staticmethod
    def team_sizes():
        """Team sizes worth trying: Numba's thread setting, capped at the kernel's parts."""
        if numba.config.DISABLE_JIT:
            return [1]  # the barrier's atomics exist only in compiled code
        largest = max(1, min(kernels.N_PARTS, numba.get_num_threads()))
        return [largest, 1] if largest > 1 else [1]

    def pick(self):
        """The team size to run the next chunk with."""
        options = self.team_sizes()
        if not self._compiled():
            return 1  # the first call compiles (or loads from cache): one thread does it
        for size in options:
            if size not in self.seconds_per_batch:
                return size
        best = min(options, key=self.seconds_per_batch.__getitem__)
        self.calls_since_probe += 1
        if len(options) > 1 and self.calls_since_probe >= self.probe_interval:
            self.calls_since_probe = 0
            return next(size for size in options if size != best)
        return best

    def calls(self, n_batches, max_calls, min_seconds):
        """(team size, first batch, last batch) of each call over an epoch of
        ``n_batches``. A call of the fastest size gets 1/``max_calls`` of the epoch, or
        ``min_seconds`` of work at the measured speed if that is more (each call costs
        ~0.25 ms, mostly waking the helper thread); a call of another or an unmeasured
        size, a probe, gets a quarter of that, as it is likely the slower.
        """
        per_call = -(-n_batches // max_calls)
        if self.seconds_per_batch:
            per_call = max(per_call, math.ceil(min_seconds / self._fastest_seconds()))
        first = 0
        while first < n_batches:
            workers = self.pick()
            probing = self.seconds_per_batch.get(workers) != self._fastest_seconds()
            last = min(first + (max(1, per_call // 4) if probing else per_call), n_batches)
            yield workers, first, last
            first = last

    def _fastest_seconds(self):
        return min(self.seconds_per_batch.values(), default=math.inf)

    def run(self, workers, batches, *args):
        """``train_batches(team, *args)`` on ``workers`` threads (this one included),
        over ``batches`` mini-batches; records the speed."""
        warm = self._compiled() and workers in self._warmed
        self._warmed.add(workers)
        sync = np.zeros(2, dtype=np.int64)
        start = time.perf_counter()
        helpers = [self._threads().submit(kernels.train_batches, (worker, workers, sync), *args)
                   for worker in range(1, workers)]
        kernels.train_batches((0, workers, sync), *args)
        for helper in helpers:
            helper.result()
        if warm:
            self._record(workers, (time.perf_counter() - start) / batches)

    def _threads(self):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=kernels.N_PARTS - 1,
                                            thread_name_prefix="fastnn")
        return self._pool

    def _record(self, size, seconds):
        previous = self.seconds_per_batch.get(size)
        others = [v for k, v in self.seconds_per_batch.items() if k != size]
        if previous is not None and others and self.calls_since_probe == 0:
            won = seconds < min(others)
            self.probe_interval = 4 if won else min(2 * self.probe_interval,
                                                    _MAX_PROBE_INTERVAL)
        self.seconds_per_batch[size] = seconds if previous is None else (previous + seconds) / 2
