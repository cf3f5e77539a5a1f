"""TeamRunner's plan of kernel calls over an epoch (fastnn._scheduler)."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fastnn import _scheduler
from fastnn._scheduler import TeamRunner


def plan(runner, n_batches, max_calls=40, min_seconds=0.02):
    calls = list(runner.calls(n_batches, max_calls, min_seconds))
    firsts = [first for _, first, _ in calls]
    lasts = [last for _, _, last in calls]
    assert firsts == [0] + lasts[:-1] and lasts[-1] == n_batches  # in order, no gap
    return calls


def measure(runner, seconds_per_batch):
    """Give each size its timed calls, as ``run`` would."""
    for size, seconds in seconds_per_batch.items():
        for _ in range(2):
            runner._record(size, seconds)
    runner.probe_interval, runner.calls_since_probe = 4, 0


@pytest.fixture
def runner(monkeypatch):
    runner = TeamRunner(2)
    runner._is_compiled = True
    monkeypatch.setattr(TeamRunner, "team_sizes", lambda self: [2, 1])
    return runner


def test_a_fresh_runner_measures_each_team_size_with_whole_calls(runner):
    calls = plan(runner, 400)
    assert calls[0] == (2, 0, 10)  # 400 / 40 batches per call: long enough to time
    assert {workers for workers, _, _ in calls} == {2}  # run() records nothing here


def test_an_unmeasured_size_gets_a_whole_call_beside_a_measured_one(runner):
    measure(runner, {2: 1e-4})
    assert plan(runner, 1875)[0] == (1, 0, 200)  # 0.02 s at the measured speed
    runner._record(1, 2e-4)  # timed once: not yet compared
    assert plan(runner, 1875)[0] == (1, 0, 200)


def test_a_probe_is_long_enough_to_time(runner):
    measure(runner, {2: 2e-4, 1: 4e-4})
    calls = plan(runner, 469, min_seconds=1e-3)  # 12 batches a call, a quarter is 3
    assert {last - first for workers, first, last in calls[:-1] if workers == 1} == {10}


def test_measured_calls_last_min_seconds_and_probes_a_quarter(runner):
    measure(runner, {2: 1e-4, 1: 2e-4})
    calls = plan(runner, 1875)
    best = [last - first for workers, first, last in calls if workers == 2]
    probes = [last - first for workers, first, last in calls if workers == 1]
    assert best[:-1] == [200] * (len(best) - 1)  # 0.02 s at 1e-4 s per batch
    assert probes and set(probes) == {50}
    assert len(calls) < 40


def test_slow_batches_keep_max_calls_per_epoch(runner):
    measure(runner, {2: 0.1, 1: 0.2})
    calls = plan(runner, 400, max_calls=40)
    best = [last - first for workers, first, last in calls if workers == 2]
    assert best[:-1] == [10] * (len(best) - 1)


class FakeKernels:
    """Stands in for fastnn.kernels.network: each worker's call sleeps ``seconds``."""

    def __init__(self, seconds):
        self.seconds = seconds

    def train_epochs(self, team, *args):
        time.sleep(self.seconds)


class LateStartPool(ThreadPoolExecutor):
    """A pool whose threads start each task ``delay`` seconds late, as a helper thread
    on a halted virtual CPU does."""

    def __init__(self, delay):
        super().__init__(max_workers=1)
        self.delay = delay

    def submit(self, function, *args):
        def late():
            time.sleep(self.delay)
            return function(*args)
        return super().submit(late)


def test_the_team_is_timed_from_its_helper_start_and_short_calls_not_at_all(
        runner, monkeypatch):
    monkeypatch.setattr(_scheduler, "kernels", FakeKernels(0.02))
    late = LateStartPool(0.2)
    monkeypatch.setattr(_scheduler._threads, "pool", lambda: late)
    for _ in range(2):  # the first call of a size warms it up, untimed
        runner.run(2, 10, "args")
    assert runner.seconds_per_batch[2] < 0.01  # 0.02 s / 10 batches, not 0.22 s / 10

    monkeypatch.setattr(_scheduler, "kernels", FakeKernels(0.0))
    for _ in range(2):
        runner.run(1, 10, "args")
    assert 1 not in runner.seconds_per_batch  # too short to time
    late.shutdown()


def test_one_slow_call_does_not_switch_the_team_size(runner):
    for seconds in (1e-4, 1e-4, 2e-4):
        runner._record(1, seconds)
    for seconds in (6e-5, 6e-5, 5e-4):  # the last one slowed by a busy host
        runner._record(2, seconds)
    assert runner.seconds_per_batch == {1: 1e-4, 2: 6e-5}
    runner._record(2, 5e-4)  # slow twice in the last three: the host is busy
    assert runner.seconds_per_batch[2] == 5e-4
