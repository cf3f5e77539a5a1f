"""The process's one team of helper threads for the kernels, sized to Numba's threads.

The kernels release the GIL, so Python threads run them in parallel. One pool serves
every model and batch size (a pool per model would keep idle OS threads alive for
the model's lifetime), and a forked child starts with none: the parent's threads do
not exist there, and a pool inherited without them would wait forever.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

_state = {"pool": None, "lock": threading.Lock()}


def max_threads():
    """The most threads the kernels may use: Numba's ``NUMBA_NUM_THREADS`` (the core
    count unless set)."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def team_size():
    """Threads to run with now: ``numba.get_num_threads()`` (``set_num_threads``)."""
    if numba.config.DISABLE_JIT:
        return 1  # plain Python kernels hold the GIL: threads would only take turns
    return max(1, numba.get_num_threads())


def pool():
    """The shared helper pool (``max_threads() - 1`` threads, started lazily)."""
    with _state["lock"]:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max_workers=max(1, max_threads() - 1),
                                                thread_name_prefix="fastnn")
        return _state["pool"]


def run_team(function, calls):
    """``function(*args)`` for each args tuple in ``calls``: the first on this thread,
    the others on helpers. Returns when all have finished; re-raises the first error."""
    helpers = [pool().submit(function, *args) for args in calls[1:]]
    try:
        function(*calls[0])
    finally:
        for future in helpers:
            future.result()  # the helpers' work writes into shared buffers: wait for it


def _forget_after_fork():
    """In a forked child: a fresh lock and no pool (the parent's threads are gone)."""
    _state["pool"] = None
    _state["lock"] = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
