"""Shared pieces of the performance tests (marker ``perf``).

Every assertion here is a ratio of two things measured in one process (or, for start-up,
by one test), alternating so that both see the same machine load, with a floor far
below what is measured on a quiet machine: CI machines are shared and noisy, and an
absolute time would say more about the neighbours than about fastnn.
"""
import time

import numpy as np
import pytest


def interleaved_times(first, second, rounds, settle=0.0):
    """Wall-clock seconds of ``rounds`` calls of ``first()`` and of ``second()``, called
    alternately; returns two arrays (compare their minima: the least-disturbed calls).

    ``settle`` seconds of idling before each call let the previous call's worker
    threads (OpenBLAS's, Numba's OpenMP pool) stop spinning: measured here, a 128-row
    epoch right after a multithreaded one ran half again as long.
    """
    a, b = np.empty(rounds), np.empty(rounds)
    for i in range(rounds):
        for function, times in ((first, a), (second, b)):
            if settle:
                time.sleep(settle)
            start = time.perf_counter()
            function()
            times[i] = time.perf_counter() - start
    return a, b


def interleaved_calls(first, second, calls, rounds):
    """``interleaved_times`` of rounds of ``calls`` calls each of ``first()`` and of
    ``second()``, after one such round of each as a warm-up: for calls too short to
    time one by one."""
    def repeated(function):
        def run():
            for _ in range(calls):
                function()
        return run

    first_calls, second_calls = repeated(first), repeated(second)
    first_calls(), second_calls()
    return interleaved_times(first_calls, second_calls, rounds)


def describe(name, seconds, per=1, unit="ms"):
    """'name best 12.3 ms, median 14.0 ms' for a failure message."""
    scale = {"ms": 1e3, "us": 1e6}[unit] / per
    return (f"{name} best {seconds.min() * scale:.1f} {unit}, "
            f"median {np.median(seconds) * scale:.1f} {unit}")


@pytest.fixture
def timing():
    """The helpers above, for the test modules (conftest is not importable by name in
    every pytest import mode)."""
    class Timing:
        interleaved = staticmethod(interleaved_times)
        interleaved_calls = staticmethod(interleaved_calls)
        describe = staticmethod(describe)
    return Timing
