"""Running the epoch kernel with a team of threads, sized by measured speed.

``train_epochs`` computes bitwise the same result whatever the team's size
(fastnn.kernels.network), so the size changes only speed, and it can change between
any two chunks of batches. Why measure instead of always using every core: the team
meets at a barrier two or four times per mini-batch; on an idle machine that costs about a
microsecond, but when another process holds a core the barrier waits for a
descheduled thread, and one thread alone is faster.
"""
import collections
import math
import statistics
import threading
import time

import numba
import numpy as np

from . import _threads
from .kernels import network as kernels

# Chunks between probes of a losing team size, at most: a noisy probe must not lock a
# size out for long (an epoch is up to 40 chunks, fewer when it is fast).
_MAX_PROBE_INTERVAL = 16
# Calls shorter than this are not timed: the tens of microseconds every call costs
# (argument checks, thread hand-off) would weigh on the speed per batch.
_MIN_TIMED_SECONDS = 1e-3
# A size's speed is the median of its last few timed calls: one call slowed by the
# host (a descheduled helper thread) must not switch the team size for an epoch.
_RECENT_CALLS = 3
_TIMINGS_TO_TRUST = 2  # timed calls of each size before comparing them
_PROBE_SECONDS = 4e-3  # a probe's work at least: per-call costs stay a small part of it
_NO_SYNC = np.zeros(2, dtype=np.int64)  # a team of one never touches its barrier


class TeamRunner:
    """Calls ``train_epochs`` with the fastest team size so far, probing the others
    now and then. The probe interval doubles each time a probe loses, so a slow size
    costs less and less; it resets when the probe wins.
    """

    def __init__(self, parts, kernel=None):
        """``parts``: the kernel's parts per batch, the largest useful team;
        ``kernel(team, ...)``: default ``train_epochs``."""
        self.parts = parts
        self._chosen_kernel = kernel
        self._recent = {}  # team size: its last few timed seconds per batch
        self._warmed = set()  # sizes run once: the first run starts threads, fills caches
        self.probe_interval = 4
        self.calls_since_probe = 0
        self._is_compiled = False

    @property
    def kernel(self):
        """The kernel this runner calls (looked up at call time: tests replace it)."""
        return self._chosen_kernel or kernels.train_epochs

    def _compiled(self):
        """Whether the kernel is compiled (or loaded from cache): asked of Numba
        until it is, as each question costs ~40 us."""
        if not self._is_compiled:
            # Under NUMBA_DISABLE_JIT the kernel is plain Python: there is nothing to compile.
            self._is_compiled = (numba.config.DISABLE_JIT
                                 or bool(self.kernel.signatures))
        return self._is_compiled

    def team_sizes(self):
        """Team sizes worth trying: Numba's thread setting, capped at the kernel's parts."""
        if self.parts == 1:  # asking Numba its thread setting costs ~1 us
            return [1]
        largest = min(self.parts, _threads.team_size())
        return [largest, 1] if largest > 1 else [1]

    def pick(self):
        """The team size to run the next chunk with."""
        options = self.team_sizes()
        if not self._compiled():
            return 1  # the first call compiles (or loads from cache): one thread does it
        for size in options:
            if not self._trusted(size):
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
        ~0.25 ms, mostly waking the helper thread); a probe of a measured but slower
        size gets a quarter of that, or ``_PROBE_SECONDS`` of its work if more. A size
        not yet measured gets whole calls, long enough to be timed.
        """
        per_call = -(-n_batches // max_calls)
        if self.seconds_per_batch:
            per_call = max(per_call, math.ceil(min_seconds / self._fastest_seconds()))
        first = 0
        while first < n_batches:
            workers = self.pick()
            measured = self.seconds_per_batch.get(workers)
            chunk = per_call
            if self._trusted(workers) and measured != self._fastest_seconds():  # a probe
                chunk = min(per_call, max(per_call // 4, math.ceil(_PROBE_SECONDS / measured)))
            last = min(first + max(1, chunk), n_batches)
            yield workers, first, last
            first = last

    @property
    def seconds_per_batch(self):
        """{team size: median seconds per batch of its recent timed calls}."""
        return {size: statistics.median(times) for size, times in self._recent.items()}

    def _trusted(self, size):
        """Whether ``size`` has been timed often enough to compare."""
        return len(self._recent.get(size, ())) >= _TIMINGS_TO_TRUST

    def _fastest_seconds(self):
        return min(self.seconds_per_batch.values(), default=math.inf)

    def run(self, workers, batches, *args):
        """``kernel(team, *args)`` on ``workers`` threads (this one included), over
        ``batches`` mini-batches; records the speed."""
        kernel = self.kernel
        warm = self._compiled() and workers in self._warmed
        self._warmed.add(workers)
        if workers == 1:  # no team to hand out: the fewest Python steps (small problems)
            start = time.perf_counter()
            kernel((0, 1, _NO_SYNC), *args)
            if warm:
                self._time(workers, batches, time.perf_counter() - start)
            return
        sync = np.zeros(2, dtype=np.int64)
        helper_starts = []
        # Helpers enter the kernel only once the whole team has been handed out ("go"):
        # an interrupt (Ctrl-C) before that point calls them off; one after it finds
        # them at the barrier, waiting for this thread's share (see below).
        go, called_off = threading.Event(), []

        def helper(worker):
            go.wait()
            if not called_off:
                helper_starts.append(time.perf_counter())
                kernel((worker, workers, sync), *args)

        start = time.perf_counter()
        helpers = []
        try:
            for worker in range(1, workers):
                helpers.append(_threads.pool().submit(helper, worker))
            go.set()
            kernel((0, workers, sync), *args)
        finally:
            if not go.is_set():
                called_off.append(True)
                go.set()
            elif workers > 1 and sync[1] == 0:
                # The barrier's generation moves only once this thread has joined the
                # team: interrupted between "go" and its share, run it, then re-raise.
                kernel((0, workers, sync), *args)
            for future in helpers:
                future.result()
        # Timed from the last helper's start: waking an idle thread (its virtual CPU may
        # be halted) costs up to ~1 ms a call, which the call sizes amortize; charged to
        # the speed per batch, it made a short warm-up favor one thread for epochs.
        if warm:
            self._time(workers, batches, time.perf_counter() - max([start] + helper_starts))

    def _time(self, workers, batches, seconds):
        """Record a warm call's speed, if it was long enough to time."""
        if seconds >= _MIN_TIMED_SECONDS:
            self._record(workers, seconds / batches)

    def _record(self, size, seconds):
        speeds = self.seconds_per_batch
        others = [v for k, v in speeds.items() if k != size]
        if size in speeds and others and self.calls_since_probe == 0:
            won = seconds < min(others)
            self.probe_interval = 4 if won else min(2 * self.probe_interval,
                                                    _MAX_PROBE_INTERVAL)
        self._recent.setdefault(size, collections.deque(maxlen=_RECENT_CALLS)).append(seconds)
