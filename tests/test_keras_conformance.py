"""Keras 3's numbers where fastnn claims Keras semantics: golden values computed by hand
from Keras's documented formulas, finite differences, and the NumPy reference."""
import numpy as np
import pytest

from fastnn import Dense, Sequential, reference
from fastnn.kernels import codes
from fastnn.kernels import losses as kl
from fastnn.kernels.activations import bias_activation
from fastnn.optimizers import SGD
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
