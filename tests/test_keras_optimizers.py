"""Adam(amsgrad=True) and RMSprop(centered=True) by Keras 3's rules: one step and a
golden trajectory from the documented formulas, fits float64-exact against
fastnn.reference, saving with the third slot, fit_many, and live Keras (JAX)."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential, reference
from fastnn.kernels import codes
from fastnn.kernels import optimizers as ko
from fastnn.optimizers import SGD, Adam, AdamW, RMSprop


def run(optimizer, gradients, w0=1.0):
    """w after applying ``gradients`` (one per step) through the update kernel."""
    dtype = np.dtype(np.float64)
    w = np.array([w0])
    state = np.zeros((optimizer.slots, 1))
    trajectory = []
    for g in gradients:
        lr, step = optimizer.rates(1, dtype)[0]
        ko.apply_update(w, np.array([g]), state[0], state[1], state[optimizer.slots - 1][:0]
                        if optimizer.slots == 2 else state[2], optimizer.code,
                        optimizer.hyper(dtype), lr, step)
        optimizer.iterations += 1
        trajectory.append(w[0])
    return np.array(trajectory), state


def test_amsgrad_divides_by_the_running_max_of_v():
    # g = 1, 0, 0: v falls after the first step, its maximum stays 1e-3.
    got, state = run(Adam(0.1, amsgrad=True), [1.0, 0.0, 0.0])
    m, v, v_max, w, expected = 0.0, 0.0, 0.0, 1.0, []
    for t, g in enumerate([1.0, 0.0, 0.0], start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        v_max = max(v_max, v)
        w -= 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v_max) + 1e-7)
        expected.append(w)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert state[2, 0] == pytest.approx(1e-3, rel=1e-15) and state[1, 0] < 1e-3
    # Golden values of the formulas above: step 1 is Adam's, 1 - 0.1 * 0.1 / (0.0316 + 1e-7)
    np.testing.assert_allclose(got, [0.9000003162267659, 0.8330282138901206,
                                     0.7812844759669073], rtol=1e-12)
    plain, _ = run(Adam(0.1), [1.0, 0.0, 0.0])
    assert plain[0] == got[0] and plain[2] < got[2]  # plain Adam divides by the smaller v


def test_centered_rmsprop_divides_by_the_variance():
    got, state = run(RMSprop(0.01, centered=True), [1.0, 2.0])
    # s1 = 0.1, a1 = 0.1: w1 = 1 - 0.01 / sqrt(0.1 - 0.01 + 1e-7)
    w1 = 1 - 0.01 / np.sqrt(0.09 + 1e-7)
    s2, a2 = 0.9 * 0.1 + 0.1 * 4, 0.9 * 0.1 + 0.1 * 2
    w2 = w1 - 0.01 * 2 / np.sqrt(s2 - a2 * a2 + 1e-7)
    np.testing.assert_allclose(got, [w1, w2], rtol=1e-14)
    np.testing.assert_allclose(state[:, 0], [s2, 0.0, a2], rtol=1e-15)
    np.testing.assert_allclose(got, [0.9666666851851697, 0.9352745817622772], rtol=1e-12)
    moving, state = run(RMSprop(0.01, momentum=0.5, centered=True), [1.0, 2.0])
    step1, step2 = 1 - w1, 0.01 * 2 / np.sqrt(s2 - a2 * a2 + 1e-7)
    np.testing.assert_allclose(moving, [1 - step1, 1 - step1 - (0.5 * step1 + step2)],
                               rtol=1e-14)


def test_options_are_checked_and_named():
    with pytest.raises(TypeError, match=r"^Adam: amsgrad must be"):
        Adam(amsgrad=1)
    with pytest.raises(TypeError, match=r"^RMSprop: centered must be"):
        RMSprop(centered="yes")
    assert AdamW(amsgrad=True).code == codes.ADAM_AMSGRAD and AdamW().slots == 2
    assert RMSprop(centered=True).code == codes.RMSPROP_CENTERED
    assert "amsgrad" not in Adam().get_config()  # files without it still load


def fit_pair(optimizer, reference_name, hyper, loss="categorical_crossentropy"):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 4)), np.eye(3)[rng.integers(0, 3, 30)]
    model = Sequential([Dense(6, activation="tanh", input_dim=4),
                        Dense(3, activation="softmax")], dtype="float64", seed=1)
    model.compile(optimizer=optimizer, loss=loss)
    w = model.get_weights()
    ref = reference.ReferenceMLP(w[0::2], w[1::2], ["tanh", "softmax"], loss, reference_name,
                                 **hyper)
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for _ in range(3):
        ref.train_epoch(x, y, np.arange(30), 8)
    return model, [p for pair in zip(ref.weights, ref.biases) for p in pair]


@pytest.mark.parametrize("optimizer, name, hyper", [
    (lambda: Adam(0.01, amsgrad=True), "adam", {"learning_rate": 0.01, "amsgrad": True}),
    (lambda: AdamW(0.01, weight_decay=0.01, amsgrad=True), "adam",
     {"learning_rate": 0.01, "weight_decay": 0.01, "amsgrad": True}),
    (lambda: RMSprop(0.01, centered=True), "rmsprop",
     {"learning_rate": 0.01, "centered": True}),
    (lambda: RMSprop(0.01, momentum=0.5, centered=True), "rmsprop",
     {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
])
def test_fit_matches_the_reference_in_float64(optimizer, name, hyper):
    model, expected = fit_pair(optimizer(), name, hyper)
    for a, b in zip(model.get_weights(), expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_third_slot_is_saved_loaded_and_resumed(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((32, 4)), np.eye(3)[rng.integers(0, 3, 32)]

    def build():
        model = Sequential([Dense(5, activation="relu", input_dim=4),
                            Dense(3, activation="softmax")], dtype="float64", seed=2)
        model.compile(optimizer=Adam(0.01, amsgrad=True), loss="categorical_crossentropy")
        return model

    model = build()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model._state.shape == (3, model.count_params()) and model._state[2].any()
    model.save(tmp_path / "m.npz")
    loaded = fastnn.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.amsgrad and np.array_equal(loaded._state, model._state)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    two_slots = Sequential([Dense(5, activation="relu", input_dim=4),
                            Dense(3, activation="softmax")], dtype="float64", seed=2)
    two_slots.compile(optimizer=Adam(0.01), loss="categorical_crossentropy")
    two_slots.build()
    with pytest.raises(ValueError, match="optimizer state of shape"):
        two_slots._restore_training_state(tmp_path / "m.npz")


def test_fit_many_mixes_two_and_three_slot_optimizers():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((24, 4)), np.eye(3)[rng.integers(0, 3, 24)]
    makers = [lambda: Adam(0.01, amsgrad=True), lambda: SGD(0.05, momentum=0.9),
              lambda: RMSprop(0.01, centered=True), lambda: Adam(0.01)]

    def build(i):
        model = Sequential([Dense(5, activation="tanh", input_dim=4),
                            Dense(3, activation="softmax")], dtype="float64", seed=i)
        model.compile(optimizer=makers[i](), loss="categorical_crossentropy")
        return model

    group = [build(i) for i in range(4)]
    fastnn.fit_many(group, x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for i, mine in enumerate(group):
        theirs = build(i)
        theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        assert mine._state.shape == theirs._state.shape


def test_live_keras_trajectories():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    cases = [(Adam(0.01, amsgrad=True), keras.optimizers.Adam(0.01, amsgrad=True)),
             (RMSprop(0.01, centered=True), keras.optimizers.RMSprop(0.01, centered=True)),
             (RMSprop(0.01, momentum=0.5, centered=True),
              keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True))]
    for ours_optimizer, keras_optimizer in cases:
        ours = Sequential([Dense(5, activation="tanh", input_dim=4),
                           Dense(3, activation="softmax")], dtype="float32", seed=5)
        ours.compile(optimizer=ours_optimizer, loss="categorical_crossentropy")
        theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                                   keras.layers.Dense(3, activation="softmax")])
        theirs.set_weights(ours.get_weights())
        theirs.compile(optimizer=keras_optimizer, loss="categorical_crossentropy")
        theirs.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6,
                                       err_msg=type(ours_optimizer).__name__)
