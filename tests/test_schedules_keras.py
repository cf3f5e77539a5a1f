"""Keras 3's learning-rate schedules: golden values worked out by hand from Keras's
documented formulas, serialization, and the rate each step of fit really uses."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential, schedules
from fastnn.optimizers import SGD, AdamW

# PolynomialDecay(0.1, 10, end=0.01, power=2): (0.1 - 0.01) * (1 - s'/d_s)**2 + 0.01
POLYNOMIAL = [
    (dict(), [0, 5, 10, 15], [0.1, 0.09 * 0.25 + 0.01, 0.01, 0.01]),
    # cycle: d_s = 10 * max(1, ceil(s / 10)); s = 15 -> d_s = 20, (1 - 0.75)**2 = 0.0625
    (dict(cycle=True), [0, 5, 10, 15, 20], [0.1, 0.0325, 0.01, 0.09 * 0.0625 + 0.01, 0.01]),
]


@pytest.mark.parametrize("options,steps,expected", POLYNOMIAL)
def test_polynomial_decay_golden_values(options, steps, expected):
    schedule = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0, **options)
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-14)


def test_polynomial_decay_defaults_are_keras_s():
    schedule = schedules.PolynomialDecay(1.0, 4)  # end 1e-4, power 1: a straight line
    assert (schedule.end_learning_rate, schedule.power, schedule.cycle) == (1e-4, 1.0, False)
    np.testing.assert_allclose(schedule(np.arange(6)),
                               [1.0, 0.750025, 0.50005, 0.250075, 1e-4, 1e-4], rtol=1e-14)


def test_cosine_decay_with_warmup_golden_values():
    """Warmup 0.1 -> 1.0 over 4 steps, then the cosine from 1.0 to 0.2 * 1.0 over 8."""
    schedule = schedules.CosineDecay(0.1, 8, alpha=0.2, warmup_target=1.0, warmup_steps=4)
    steps = [0, 1, 2, 4, 6, 8, 12, 20]
    cosine = {6: 0.5 * (1 + math.cos(math.pi * 2 / 8)), 8: 0.5}  # (1 + cos(pi k/8)) / 2
    expected = [0.1, 0.325, 0.55, 1.0, 0.8 * cosine[6] + 0.2, 0.8 * cosine[8] + 0.2, 0.2, 0.2]
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-14)


def test_cosine_decay_without_a_warmup_target_ignores_warmup_steps():
    plain = schedules.CosineDecay(1.0, 10, alpha=0.1)
    ignored = schedules.CosineDecay(1.0, 10, alpha=0.1, warmup_steps=5)
    steps = np.arange(14, dtype=np.float64)
    np.testing.assert_array_equal(plain.rates(steps), ignored.rates(steps))
    np.testing.assert_allclose(plain.rates(np.array([0.0, 5.0, 10.0])), [1.0, 0.55, 0.1],
                               rtol=1e-14)


def test_cosine_decay_warmup_target_with_zero_warmup_steps_starts_at_the_target():
    schedule = schedules.CosineDecay(0.0, 4, warmup_target=2.0)
    np.testing.assert_allclose(schedule(np.arange(6)),
                               [2.0, 1.0 + math.cos(math.pi / 4), 1.0,
                                1.0 + math.cos(3 * math.pi / 4), 0.0, 0.0], atol=1e-15)


# CosineDecayRestarts(1.0, first=10, t_mul=2, m_mul=0.5, alpha=0.1):
# periods [0, 10), [10, 30), [30, 70); peaks 1, 0.5, 0.25 (times the cosine); floor 0.1.
RESTARTS = [(0, 1.0), (5, 0.55), (10, 0.9 * 0.5 + 0.1), (20, 0.9 * 0.25 + 0.1),
            (25, 0.9 * 0.5 * 0.5 * (1 + math.cos(math.pi * 0.75)) + 0.1),
            (30, 0.9 * 0.25 + 0.1), (50, 0.9 * 0.125 + 0.1)]


def test_cosine_decay_restarts_golden_values():
    schedule = schedules.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5, alpha=0.1)
    steps, expected = zip(*RESTARTS)
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-13)


def test_cosine_decay_restarts_with_equal_periods():
    """t_mul = 1: every period is first_decay_steps long; defaults m_mul=1, alpha=0."""
    schedule = schedules.CosineDecayRestarts(2.0, 4, t_mul=1.0)
    assert (schedules.CosineDecayRestarts(1.0, 3).t_mul,
            schedules.CosineDecayRestarts(1.0, 3).m_mul) == (2.0, 1.0)
    np.testing.assert_allclose(schedule(np.array([0.0, 2.0, 4.0, 6.0, 9.0])),
                               [2.0, 1.0, 2.0, 1.0, 1.0 + math.cos(math.pi / 4)], rtol=1e-14)


ALL = [
    schedules.PolynomialDecay(0.05, 7, end_learning_rate=0.001, power=0.5, cycle=True),
    schedules.CosineDecay(0.01, 6, alpha=0.1, warmup_target=0.1, warmup_steps=3),
    schedules.CosineDecay(0.1, 6),
    schedules.CosineDecayRestarts(0.1, 3, t_mul=1.5, m_mul=0.8, alpha=0.05),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_new_schedules_serialize_round_trip(schedule):
    spec = schedules.serialize(schedule)
    assert spec["name"] == type(schedule).__name__
    again = schedules.deserialize(spec)
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    steps = np.arange(40, dtype=np.float64)
    np.testing.assert_array_equal(again.rates(steps), schedule.rates(steps))


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_fit_takes_each_step_s_rate_from_the_new_schedules(schedule, tmp_path):
    """SGD on sse with one weight, x = 1, y = 0: each step w <- (1 - lr_t) w, so the
    weight after fit is the product over the schedule's rates; the rates survive
    save and load, and training resumes at the right step."""
    model = Sequential([Dense(1, use_bias=False, input_dim=1)], dtype="float64")
    model.compile(optimizer=SGD(schedule), loss="sse")
    model.set_weights([np.ones((1, 1))])
    x, y = np.ones((5, 1)), np.zeros((5, 1))
    model.fit(x, y, batch_size=1, epochs=2, shuffle=False, verbose=0)
    rates = schedule.rates(np.arange(10, dtype=np.float64))
    assert model.get_weights()[0][0, 0] == pytest.approx(np.prod(1 - rates[:10]), rel=1e-13)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert type(loaded.optimizer.learning_rate) is type(schedule)
    assert loaded.optimizer.learning_rate.get_config() == schedule.get_config()
    loaded.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    rates = schedule.rates(np.arange(15, dtype=np.float64))
    assert loaded.get_weights()[0][0, 0] == pytest.approx(np.prod(1 - rates), rel=1e-13)


def test_adamw_with_a_warmup_schedule_trains_and_reloads(tmp_path):
    schedule = schedules.CosineDecay(0.0, 20, warmup_target=0.05, warmup_steps=5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    labels = (x[:, 0] > 0).astype(np.int64)
    model = Sequential([Dense(8, activation="tanh", input_dim=3),
                        Dense(2, activation="softmax")], dtype="float64", seed=2)
    model.compile(optimizer=AdamW(schedule), loss="sparse_categorical_crossentropy")
    history = model.fit(x, labels, batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "adamw.npz"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert type(loaded.optimizer) is AdamW and loaded.optimizer.weight_decay == 0.004
    assert isinstance(loaded.optimizer.learning_rate, schedules.CosineDecay)
    assert loaded.optimizer.learning_rate.warmup_target == 0.05


@pytest.mark.parametrize("build,pattern", [
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.9, staircase="no"),
     r"^ExponentialDecay: staircase must be True or False, got str 'no'\."),
    (lambda: schedules.InverseTimeDecay(0.1, 10, 0.9, staircase=1),
     r"^InverseTimeDecay: staircase must be True or False, got int 1\."),
    (lambda: schedules.PolynomialDecay(0.1, 10, cycle="False"),
     r"^PolynomialDecay: cycle must be True or False, got str 'False'\."),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=2.5),
     r"^CosineDecay: warmup_steps must be an int, got float 2\.5\."),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target="high"),
     r"^CosineDecay: warmup_target must be a number, got str 'high'\."),
])
def test_schedules_refuse_wrong_types(build, pattern):
    with pytest.raises(TypeError, match=pattern):
        build()


@pytest.mark.parametrize("build,pattern", [
    (lambda: schedules.PolynomialDecay(0.1, 0), r"^PolynomialDecay: decay_steps must be a "
                                                r"positive int, got 0\."),
    (lambda: schedules.PolynomialDecay(0.1, 10, power=-1.0), r"^PolynomialDecay: power must"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target=0.5, warmup_steps=-1),
     r"^CosineDecay: warmup_steps must be a non-negative int, got -1\."),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.0),
     r"^CosineDecayRestarts: t_mul must be a positive number, got 0\.0\."),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, m_mul=-0.5),
     r"^CosineDecayRestarts: m_mul must be a finite number >= 0, got -0\.5\."),
])
def test_schedules_refuse_bad_values(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        build()


def test_staircase_still_takes_real_booleans():
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=np.bool_(True)).staircase is True
    assert float(schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(19)) == 0.05
