"""Keras 3's numbers where fastnn claims Keras semantics: golden values computed by hand
from Keras's documented formulas, finite differences, and the NumPy reference."""
import math

import numpy as np
import pytest

from fastnn import Dense, Sequential, initializers, optimizers, reference
from fastnn.kernels import codes
from fastnn.kernels import losses as kl
from fastnn.kernels import optimizers as ko
from fastnn.kernels.activations import bias_activation
from fastnn.optimizers import SGD, Adam, AdamW, RMSprop
from fastnn.registries import ACTIVATIONS, LOSSES

# --------------------------------------------- cross-entropy after any output activation
# Keras 3 (from_logits=False): output / sum(output) per row, then clip to
# [1e-7, 1 - 1e-7], then -sum(target * log(.)).
REPRO_W = np.array([[.9, .05, .05], [.5, .89, .6], [.05, .01, .94]])
REPRO_LOSS = (-np.log(.9) - np.log(.89 / 1.99) - np.log(.94)) / 3  # 0.3239681...


def linear_model(dtype, loss):
    model = Sequential([Dense(3, use_bias=False, input_dim=3)], dtype=dtype)
    model.set_weights([REPRO_W])
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crossentropy_divides_each_row_by_its_sum_as_keras(dtype):
    assert REPRO_LOSS == pytest.approx(0.3239681248, abs=1e-10)
    rtol = 1e-6 if dtype == "float32" else 1e-14
    dense = linear_model(dtype, "categorical_crossentropy").evaluate(np.eye(3), np.eye(3))
    sparse = linear_model(dtype, "sparse_categorical_crossentropy").evaluate(
        np.eye(3), np.arange(3))
    assert dense["loss"] == pytest.approx(REPRO_LOSS, rel=rtol)
    assert sparse["loss"] == pytest.approx(REPRO_LOSS, rel=rtol)
    out = REPRO_W  # x = I: the outputs are W's rows
    assert reference.sample_losses(out, np.eye(3), "categorical_crossentropy").mean() == (
        pytest.approx(REPRO_LOSS, rel=1e-15))


def test_crossentropy_clips_after_normalizing():
    """A row whose target share is below 1e-7 costs -log(1e-7) and gets no gradient
    through the clipped term (the clip's derivative is 0 there, as in Keras)."""
    out = np.array([[0.0, 2.0, 3.0], [1e-9, 0.5, 0.5]])
    y = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    weights = np.ones(2)
    order = np.arange(2)
    expected = -np.log(1e-7) * 2
    total = kl.batch_loss(out, y, np.zeros(0, np.int64), weights, order,
                          LOSSES["categorical_crossentropy"])
    assert total == pytest.approx(expected, rel=1e-12)
    d = np.empty_like(out)
    kl.output_delta(d, out, y, np.zeros(0, np.int64), weights, order,
                    LOSSES["categorical_crossentropy"], codes.LINEAR, 2)
    np.testing.assert_array_equal(d, 0.0)
    np.testing.assert_array_equal(
        reference.output_delta(out, y, "categorical_crossentropy", "linear"), 0.0)


def test_a_sigmoid_output_can_no_longer_cheat_crossentropy_by_saturating():
    """Every output at 1 used to cost ~1e-7; normalized, it costs log(units)."""
    out = np.full((1, 4), 1 - 1e-12)
    y = np.eye(4)[[2]]
    assert reference.sample_losses(out, y, "categorical_crossentropy")[0] == pytest.approx(
        np.log(4), rel=1e-9)
    total = kl.batch_loss(out, y, np.zeros(0, np.int64), np.ones(1), np.arange(1),
                          LOSSES["categorical_crossentropy"])
    assert total == pytest.approx(np.log(4), rel=1e-9)


def output_rows(activation, rng, n, units):
    """Activated outputs whose rows sum away from 0 (positive for linear/tanh)."""
    z = rng.standard_normal((n, units))
    if activation in ("linear", "leaky_relu", "tanh"):
        z = np.abs(z) + 0.2  # keeps the normalization well defined
    if activation == "relu":
        z = np.abs(z) + 0.1  # off the kink
    return z


NON_SOFTMAX = ["linear", "sigmoid", "tanh", "relu", "leaky_relu"]
XENT = ["categorical_crossentropy", "sparse_categorical_crossentropy"]


def xent_targets(loss, rng, n, units):
    if loss == "sparse_categorical_crossentropy":
        labels = rng.integers(0, units, n).astype(np.int64)
        return np.eye(units)[labels], np.zeros((0, units)), labels
    y = rng.random((n, units))
    y /= y.sum(axis=1, keepdims=True)
    return y, y, np.zeros(0, np.int64)


@pytest.mark.parametrize("loss", XENT)
@pytest.mark.parametrize("activation", NON_SOFTMAX)
def test_normalized_crossentropy_delta_is_the_finite_difference_gradient(activation, loss):
    """dJ/dz at the output pre-activation, J = sum_i w_i L_i / n, float64: the kernel's
    delta against central differences of the kernel's own loss and the reference's."""
    rng = np.random.default_rng(len(activation) * 7 + len(loss))
    n, units = 5, 4
    z = output_rows(activation, rng, n, units)
    y, y_dense, labels = xent_targets(loss, rng, n, units)
    weights = rng.random(n) + 0.5
    order = np.arange(n)
    code, act = LOSSES[loss], ACTIVATIONS[activation]

    def activated(pre):
        out = pre.copy()
        bias_activation(out, np.zeros(0), act)
        return out

    def kernel_objective(pre):
        return kl.batch_loss(activated(pre), y_dense, labels, weights, order, code) / n

    def reference_objective(pre):
        out = reference.activate(pre, activation)
        return (weights * reference.sample_losses(out, y, loss)).sum() / n

    out = activated(z)
    d = np.empty_like(out)
    total = kl.output_delta(d, out, y_dense, labels, weights, order, code, act, n)
    assert total / n == pytest.approx(reference_objective(z), rel=1e-13)
    step = 1e-6
    for objective in (kernel_objective, reference_objective):
        numeric = np.empty_like(z)
        for index in np.ndindex(z.shape):
            plus, minus = z.copy(), z.copy()
            plus[index] += step
            minus[index] -= step
            numeric[index] = (objective(plus) - objective(minus)) / (2 * step)
        np.testing.assert_allclose(d, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        d, reference.output_delta(out, y, loss, activation, weights), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", XENT)
@pytest.mark.parametrize("activation", ["linear", "sigmoid", "relu"])
def test_normalized_crossentropy_kernels_match_the_reference(activation, loss, dtype):
    rng = np.random.default_rng(11)
    n, units = 7, 3
    out64 = reference.activate(output_rows(activation, rng, n, units), activation)
    out = out64.astype(dtype)
    y, y_dense, labels = xent_targets(loss, rng, n, units)
    weights = (rng.random(n) + 0.5).astype(dtype)
    order = rng.permutation(n).astype(np.int64)
    d = np.empty_like(out)
    total = kl.output_delta(d, out, y_dense.astype(dtype), labels, weights, order, LOSSES[loss],
                            ACTIVATIONS[activation], n)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    w64 = weights.astype(np.float64)
    expected_total = (w64[order] * reference.sample_losses(out.astype(np.float64), y[order],
                                                            loss)).sum()
    assert total == pytest.approx(expected_total, rel=tol["rtol"])
    expected = reference.output_delta(out.astype(np.float64), y[order], loss, activation,
                                      w64[order])
    np.testing.assert_allclose(d, expected, **tol)


def test_one_sgd_step_after_a_linear_output_follows_the_loss_gradient():
    """Through the public API, float64: the weight change of one full-batch SGD step is
    -lr times the finite-difference gradient of evaluate's loss."""
    rng = np.random.default_rng(5)
    x = np.abs(rng.standard_normal((6, 3))) + 0.1
    labels = rng.integers(0, 3, 6)
    w0 = np.abs(rng.standard_normal((3, 3))) + 0.2
    b0 = np.abs(rng.standard_normal(3)) + 0.1

    def model_at(w, b):
        model = Sequential([Dense(3, input_dim=3)], dtype="float64")
        model.set_weights([w, b])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return model

    lr = 0.01
    trained = model_at(w0, b0)
    trained.compile(optimizer=SGD(lr), loss="sparse_categorical_crossentropy")
    trained.fit(x, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)
    w1, b1 = trained.get_weights()
    step = 1e-6
    for value, moved in ((w0, w1), (b0, b1)):
        numeric = np.empty_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[index] += step
            minus[index] -= step
            args_plus = (plus, b0) if value is w0 else (w0, plus)
            args_minus = (minus, b0) if value is w0 else (w0, minus)
            numeric[index] = (model_at(*args_plus).evaluate(x, labels)["loss"]
                              - model_at(*args_minus).evaluate(x, labels)["loss"]) / (2 * step)
        np.testing.assert_allclose((value - moved) / lr, numeric, rtol=1e-6, atol=1e-9)


# --------------------------------------------- float32 Adam: coefficients rounded once
def test_adam_hyper_holds_the_complements_rounded_once_from_float64():
    hyper = Adam(beta_1=0.9, beta_2=0.999).hyper(np.dtype(np.float32))
    assert hyper[ko.H_ONE_MINUS_BETA_1] == np.float32(0.1)
    assert hyper[ko.H_ONE_MINUS_BETA_2] == np.float32(0.001)  # not 0.00099998713
    assert np.float32(1) - np.float32(0.999) != np.float32(0.001)
    hyper = RMSprop(rho=0.95).hyper(np.dtype(np.float32))
    assert hyper[ko.H_ONE_MINUS_RHO] == np.float32(1.0 - 0.95)
    assert hyper[ko.H_RHO] == np.float32(0.95)


def test_float32_adam_first_step_uses_the_exact_coefficients():
    """From zero moments, m = (1-b1) g and v = (1-b2) g^2 with the once-rounded
    coefficients, through the entry point (Python floats) and through hyper."""
    g = np.array([0.5, -2.0, 3.0, 1e-3], np.float32)
    step_size = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)  # Adam's bias correction at t = 1
    root = np.sqrt(0.001) * np.abs(g.astype(np.float64))
    expected = -0.01 * np.sign(g) * root / (root + 1e-7)  # lr * g_hat / (|g_hat| + eps)
    for run in ("entry", "hyper"):
        w = np.zeros(4, np.float32)
        m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
        if run == "entry":
            ko.adam_update(w, g, m, v, step_size, 0.9, 0.999, 1e-7, 0.01, 0.0)
        else:
            hyper = Adam(0.01).hyper(np.dtype(np.float32))
            ko.apply_update(w, g, m, v, v[:0], codes.ADAM, hyper, np.float32(0.01),
                            np.float32(step_size), ko.update_paths(codes.ADAM, hyper))
        np.testing.assert_array_equal(m, np.float32(0.1) * g)
        np.testing.assert_array_equal(v, np.float32(0.001) * (g * g))
        # float32's 1 - float32(0.999) made this step 6.4e-6 (relative) too long
        np.testing.assert_allclose(w, expected, rtol=5e-7)


def adam_run(dtype, grads, python_floats):
    """300 Adam steps on a fixed gradient sequence; float32 scalars reproduce the old
    rounding (1 - float32(beta) in float32)."""
    w, m, v = (np.zeros(grads.shape[1], dtype) for _ in range(3))
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    for t in range(1, grads.shape[0] + 1):
        step = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        g = grads[t - 1].astype(dtype)
        if python_floats:
            ko.adam_update(w, g, m, v, step, b1, b2, eps, lr, 0.0)
        else:
            scalar = np.dtype(dtype).type
            ko.adam_update(w, g, m, v, scalar(step), scalar(b1), scalar(b2), scalar(eps),
                           scalar(lr), scalar(0))
    return w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_adam_trajectory_stays_close_to_float64(seed):
    """The same gradients, float32 against float64: 4.3e-7 relative after 300 steps
    (it was 6.0e-6 with the float32 coefficients, a 6.6e-6 step bias accumulating)."""
    grads = (np.random.default_rng(seed).standard_normal((300, 50)) + 0.3).astype(np.float32)
    w64 = adam_run(np.float64, grads, True)
    drift = np.abs(adam_run(np.float32, grads, True) - w64).max() / np.abs(w64).max()
    before = np.abs(adam_run(np.float32, grads, False) - w64).max() / np.abs(w64).max()
    assert drift < 1e-6 < 5e-6 < before
    expected = [np.zeros(50)]
    ms, vs = [np.zeros(50)], [np.zeros(50)]
    for t in range(1, 301):  # the reference, in float64, agrees with the kernel
        reference.adam_step(expected, [grads[t - 1].astype(np.float64)], ms, vs, t, 1e-3)
    np.testing.assert_allclose(w64, expected[0], rtol=1e-12, atol=1e-15)


class _Float32CoefficientAdam(Adam):
    """Adam with the old float32 complements, 1 - float32(beta), to compare against."""

    def hyper(self, dtype):
        values = super().hyper(dtype)
        values[ko.H_ONE_MINUS_BETA_1] = np.float32(1) - np.float32(self.beta_1)
        values[ko.H_ONE_MINUS_BETA_2] = np.float32(1) - np.float32(self.beta_2)
        return values


def test_float32_adam_fit_drifts_less_from_float64():
    """Through fit: float32 weights 3.6e-7 (relative) from float64's after 4 epochs,
    against 7.9e-7 with the float32 coefficients."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 10))
    labels = rng.integers(0, 3, 256)
    x += np.eye(3, 10)[labels]

    def train(dtype, optimizer):
        model = Sequential([Dense(16, activation="tanh", input_dim=10),
                            Dense(3, activation="softmax")], dtype=dtype, seed=1)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        model.fit(x, labels, batch_size=16, epochs=4, shuffle=False, verbose=0)
        return np.concatenate([w.ravel() for w in model.get_weights()]).astype(np.float64)

    w64 = train("float64", Adam(1e-3))
    drift = np.abs(train("float32", Adam(1e-3)) - w64).max() / np.abs(w64).max()
    before = np.abs(train("float32", _Float32CoefficientAdam(1e-3)) - w64).max() / np.abs(
        w64).max()
    assert drift < 6e-7 and drift < 0.7 * before


# --------------------------------------------- error types and None as Keras
@pytest.mark.parametrize("units", [2.5, None, "64", True, np.float64(3.0)])
def test_dense_refuses_non_integer_units_with_value_error(units):
    with pytest.raises(ValueError, match=r"^Dense: units must be a positive int, got "
                                         rf"{type(units).__name__} "):
        Dense(units)


def test_dense_accepts_numpy_integer_units():
    assert Dense(np.int64(4)).units == 4


def test_initializers_get_none_is_none_and_dense_reads_it_as_glorot_uniform():
    """Keras: initializers.get(None) is None, and add_weight's default for a float
    weight is glorot_uniform (bias included)."""
    assert initializers.get(None) is None

    def weights(**init):
        model = Sequential([Dense(5, input_dim=4, **init), Dense(3, **init)], seed=7)
        model.build()
        return model.get_weights()

    default = weights(kernel_initializer=None, bias_initializer=None)
    explicit = weights(kernel_initializer="glorot_uniform", bias_initializer="glorot_uniform")
    for a, b in zip(default, explicit):
        np.testing.assert_array_equal(a, b)
    assert np.abs(default[1]).max() > 0  # the bias too, not zeros
    assert np.abs(default[1]).max() <= np.sqrt(6 / (5 + 5))


def test_sgd_accepts_momentum_one_and_keeps_the_whole_velocity():
    assert SGD(0.1, momentum=1.0).momentum == 1.0
    assert SGD(0.1, momentum=0).momentum == 0.0
    for bad in (1.0000001, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^SGD: momentum must be in \[0, 1\], got "):
            SGD(0.1, momentum=bad)
    with pytest.raises(TypeError, match=r"^SGD: momentum must be a number, got str"):
        SGD(0.1, momentum="0.9")
    w, v = np.array([1.0]), np.zeros(1)
    hyper = SGD(0.1, momentum=1.0).hyper(np.dtype(np.float64))
    for g in (0.5, 0.25):  # v = v - lr g, w += v
        ko.apply_update(w, np.array([g]), v, np.zeros(1), v[:0], codes.SGD, hyper, 0.1, 0.1,
                        ko.update_paths(codes.SGD, hyper))
    assert v[0] == pytest.approx(-0.075, rel=1e-15)
    assert w[0] == pytest.approx(1.0 - 0.05 - 0.075, rel=1e-15)


# --------------------------------------------- AdamW
def test_adamw_is_adam_with_keras_s_default_weight_decay():
    optimizer = AdamW()
    assert (optimizer.learning_rate, optimizer.weight_decay, optimizer.beta_1,
            optimizer.beta_2, optimizer.epsilon) == (0.001, 0.004, 0.9, 0.999, 1e-7)
    assert optimizers.get("adamw").weight_decay == 0.004
    assert optimizers.get("AdamW").code == codes.ADAM
    with pytest.raises(ValueError, match=r"^AdamW: beta_1 must be in \[0, 1\.0\), got 1\.0\."):
        AdamW(beta_1=1.0)
    with pytest.raises(ValueError, match=r"^AdamW: weight_decay must be a finite number >= 0"):
        AdamW(weight_decay=-0.1)
    spec = optimizers.serialize(AdamW(0.01, weight_decay=0.02))
    assert spec["name"] == "adamw"
    again = optimizers.deserialize(spec)
    assert type(again) is AdamW and again.get_config() == AdamW(0.01, 0.02).get_config()


def test_adamw_steps_follow_keras_s_rule():
    """Two steps on L = w^2/2 from w = 2 (float64), by hand from Keras 3's AdamW:
    w -= lr*wd*w; m += (1-b1)(g-m); v += (1-b2)(g^2-v);
    w -= lr sqrt(1-b2^t)/(1-b1^t) m/(sqrt(v)+eps)."""
    lr, wd, b1, b2, eps = 0.1, 0.004, 0.9, 0.999, 1e-7
    model = Sequential([Dense(1, use_bias=False, input_dim=1)], dtype="float64")
    model.compile(optimizer=AdamW(lr), loss="sse")
    model.set_weights([np.full((1, 1), 2.0)])
    # sse on x = 1, y = 0: E = w^2 / 2, so g = w (before the decay, as Keras)
    model.fit(np.ones((1, 1)), np.zeros((1, 1)), batch_size=1, epochs=2, verbose=0)
    w, m, v = 2.0, 0.0, 0.0
    for t in (1, 2):
        g = w
        w -= lr * wd * w
        m += (1 - b1) * (g - m)
        v += (1 - b2) * (g * g - v)
        w -= lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (math.sqrt(v) + eps)
    assert model.get_weights()[0][0, 0] == pytest.approx(w, rel=1e-14)


def test_adamw_trains_like_adam_with_the_same_weight_decay():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((48, 4))
    labels = rng.integers(0, 3, 48)

    def train(optimizer):
        model = Sequential([Dense(6, activation="relu", input_dim=4),
                            Dense(3, activation="softmax")], dtype="float64", seed=5)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        model.fit(x, labels, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return model.get_weights()

    for a, b in zip(train(AdamW(0.01)), train(Adam(0.01, weight_decay=0.004))):
        np.testing.assert_array_equal(a, b)
    plain = train(Adam(0.01))
    assert np.abs(train(AdamW(0.01))[0]).sum() < np.abs(plain[0]).sum()
