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
                        optimizer.hyper(dtype), lr, step,
                        ko.update_paths(optimizer.code, optimizer.hyper(dtype)))
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


# --- gradient clipping: clipnorm, global_clipnorm, clipvalue ---------------------------

def one_step(optimizer):
    """A 2-input linear unit after one SGD step on x = [3, 4], y = 0 from w = [1, 1],
    b = 0: the mse gradient is dW = [42, 56] (norm 70), db = 14."""
    model = Sequential([Dense(1, input_dim=2)], dtype="float64")
    model.set_weights([np.ones((2, 1)), np.zeros(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.array([[3.0, 4.0]]), np.array([0.0]), epochs=1, verbose=0)
    w, b = model.get_weights()
    return w[:, 0], b[0]


def test_clipping_one_step_golden_values():
    w, b = one_step(SGD(0.1))
    np.testing.assert_allclose(w, [1 - 4.2, 1 - 5.6], rtol=1e-15)
    # clipnorm 1, per variable: dW -> [0.6, 0.8], db -> 1
    w, b = one_step(SGD(0.1, clipnorm=1.0))
    np.testing.assert_allclose(w, [0.94, 0.92], rtol=1e-15)
    assert b == pytest.approx(-0.1, rel=1e-15)
    # global_clipnorm 1: everything / sqrt(70^2 + 14^2) = / 71.386273...
    w, b = one_step(SGD(0.1, global_clipnorm=1.0))
    norm = np.sqrt(70.0 ** 2 + 14.0 ** 2)
    np.testing.assert_allclose(w, [1 - 4.2 / norm, 1 - 5.6 / norm], rtol=1e-15)
    assert b == pytest.approx(-1.4 / norm, rel=1e-14)
    np.testing.assert_allclose(w, [0.9411651594585448, 0.9215535459447264], rtol=1e-14)
    # clipvalue 0.5: every element to 0.5
    w, b = one_step(SGD(0.1, clipvalue=0.5))
    np.testing.assert_allclose(w, [0.95, 0.95], rtol=1e-15)
    assert b == pytest.approx(-0.05, rel=1e-15)
    # a norm below the bound leaves the step as it was (up to g * c / c's rounding)
    w, b = one_step(SGD(0.1, clipnorm=100.0))
    np.testing.assert_allclose(w, [1 - 4.2, 1 - 5.6], rtol=1e-15)


def test_clipping_options_are_checked():
    with pytest.raises(ValueError, match=r"^SGD: only one of clipnorm, clipvalue and "
                                         r"global_clipnorm can be set"):
        SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=r"^Adam: clipnorm must be > 0, got 0"):
        Adam(clipnorm=0)
    with pytest.raises(ValueError, match=r"^RMSprop: global_clipnorm must be a finite"):
        RMSprop(global_clipnorm=-1.0)
    model = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match=r"^compile: gradient clipping .* CPU only"):
        model.compile(optimizer=SGD(clipvalue=1.0), loss="mse", device="cuda")
    assert "clipnorm" not in SGD().get_config() and SGD(clipnorm=2).get_config()["clipnorm"] == 2


CLIPS = [{"clipnorm": 0.05}, {"global_clipnorm": 0.1}, {"clipvalue": 0.01}]


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("optimizer, name, hyper", [
    (SGD, "sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    (Adam, "adam", {"learning_rate": 0.01}),
])
def test_clipped_fits_match_the_reference(optimizer, name, hyper, clip):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((40, 6)), np.eye(3)[rng.integers(0, 3, 40)]
    model = Sequential([Dense(8, activation="relu", input_dim=6),
                        Dense(3, activation="softmax", kernel_regularizer=fastnn.regularizers.l2(0.01))],
                       dtype="float64", seed=7)
    model.compile(optimizer=optimizer(**hyper, **clip), loss="categorical_crossentropy")
    w = model.get_weights()
    ref = reference.ReferenceMLP(w[0::2], w[1::2], ["relu", "softmax"],
                                 "categorical_crossentropy", name, **hyper, **clip)
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for _ in range(2):
        for start in range(0, 40, 16):
            rows = np.arange(start, min(start + 16, 40))
            _l2_step(ref, x[rows], y[rows], 0.01)
    for a, b in zip(model.get_weights(), [p for pair in zip(ref.weights, ref.biases)
                                          for p in pair]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


def _l2_step(ref, x, y, l2):
    """ReferenceMLP.train_step with an L2 penalty l2 * |W_1|^2 on the last layer (its
    gradient 2 * l2 * W_1 joins the gradients before clipping, as in Keras)."""
    outputs = reference.forward(ref.weights, ref.biases, ref.activations, x)
    delta = reference.output_delta(outputs[-1], y, ref.loss, ref.activations[-1])
    grads_w, grads_b = reference.backward(ref.weights, outputs, delta, ref.activations)
    grads_w[1] = grads_w[1] + 2 * l2 * ref.weights[1]
    grads = reference.clip_gradients(grads_w + grads_b, **ref.clip)
    ref.t += 1
    params = ref.weights + ref.biases
    if ref.optimizer == "sgd":
        reference.sgd_step(params, grads, ref.slots[0], ref.lr, **ref.hyper)
    else:
        reference.adam_step(params, grads, ref.slots[0], ref.slots[1], ref.t, ref.lr,
                            **ref.hyper)


@pytest.mark.parametrize("clip", CLIPS)
def test_fit_many_clips_each_model_as_fit(clip):
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((24, 4)), np.eye(3)[rng.integers(0, 3, 24)]

    def build(i):
        model = Sequential([Dense(5, activation="tanh", input_dim=4),
                            Dense(3, activation="softmax")], dtype="float64", seed=i)
        model.compile(optimizer=SGD(0.2, momentum=0.5, **(clip if i != 1 else {})),
                      loss="categorical_crossentropy")
        return model

    group = [build(i) for i in range(3)]
    fastnn.fit_many(group, x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for i, mine in enumerate(group):
        theirs = build(i)
        theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_clipping_survives_save_and_load(tmp_path):
    model = Sequential([Dense(2, input_dim=2)], dtype="float64", seed=0)
    model.compile(optimizer=Adam(0.01, global_clipnorm=0.5), loss="mse")
    model.save(tmp_path / "m.npz")
    assert fastnn.load_model(tmp_path / "m.npz").optimizer.global_clipnorm == 0.5


def test_live_keras_clipping():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    for clip in CLIPS:
        for ours_class, keras_class, lr in ((SGD, keras.optimizers.SGD, 0.5),
                                            (Adam, keras.optimizers.Adam, 0.01)):
            ours = Sequential([Dense(5, activation="tanh", input_dim=4),
                               Dense(3, activation="softmax")], dtype="float32", seed=5)
            ours.compile(optimizer=ours_class(lr, **clip), loss="categorical_crossentropy")
            theirs = keras.Sequential([keras.Input((4,)),
                                       keras.layers.Dense(5, activation="tanh"),
                                       keras.layers.Dense(3, activation="softmax")])
            theirs.set_weights(ours.get_weights())
            theirs.compile(optimizer=keras_class(lr, **clip), loss="categorical_crossentropy")
            theirs.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
            ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
            for a, b in zip(ours.get_weights(), theirs.get_weights()):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6,
                                           err_msg=f"{ours_class.__name__} {clip}")
