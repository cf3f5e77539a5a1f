"""TeamRunner's plan of kernel calls over an epoch (fastnn._scheduler)."""
import pytest

from fastnn._scheduler import TeamRunner


def plan(runner, n_batches, max_calls=40, min_seconds=0.02):
    calls = list(runner.calls(n_batches, max_calls, min_seconds))
    firsts = [first for _, first, _ in calls]
    lasts = [last for _, _, last in calls]
    assert firsts == [0] + lasts[:-1] and lasts[-1] == n_batches  # in order, no gap
    return calls


@pytest.fixture
def runner(monkeypatch):
    runner = TeamRunner()
    runner._is_compiled = True
    monkeypatch.setattr(TeamRunner, "team_sizes", staticmethod(lambda: [2, 1]))
    return runner


def test_a_fresh_runner_measures_each_team_size_with_short_calls(runner):
    calls = plan(runner, 400)
    assert calls[0] == (2, 0, 2)  # 400 / 40 batches per call, a quarter while unmeasured
    assert {workers for workers, _, _ in calls} == {2}  # run() records nothing here


def test_measured_calls_last_min_seconds_and_probes_a_quarter(runner):
    runner.seconds_per_batch = {2: 1e-4, 1: 2e-4}
    calls = plan(runner, 1875)
    best = [last - first for workers, first, last in calls if workers == 2]
    probes = [last - first for workers, first, last in calls if workers == 1]
    assert best[:-1] == [200] * (len(best) - 1)  # 0.02 s at 1e-4 s per batch
    assert probes and set(probes) == {50}
    assert len(calls) < 40


def test_slow_batches_keep_max_calls_per_epoch(runner):
    runner.seconds_per_batch = {2: 0.1, 1: 0.2}
    calls = plan(runner, 400, max_calls=40)
    best = [last - first for workers, first, last in calls if workers == 2]
    assert best[:-1] == [10] * (len(best) - 1)
