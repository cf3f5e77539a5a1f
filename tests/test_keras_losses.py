"""Keras 3's loss options: from_logits and label_smoothing for the cross-entropies, the
loss objects, "mae" and "huber". Golden values from Keras's documented formulas and
docstring examples, the kernels float64-exact against fastnn.reference, and, where
Keras is installed, whole fits against Keras live (JAX backend)."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential, losses, reference
from fastnn.kernels import codes
from fastnn.kernels import losses as kl
from fastnn.optimizers import SGD

CODES = {"mse": codes.MSE, "mae": codes.MAE, "huber": codes.HUBER,
         "binary_crossentropy": codes.BINARY_CROSSENTROPY,
         "categorical_crossentropy": codes.CATEGORICAL_CROSSENTROPY,
         "sparse_categorical_crossentropy": codes.SPARSE_CATEGORICAL_CROSSENTROPY}
ACTIVATIONS = {"linear": codes.LINEAR, "sigmoid": codes.SIGMOID, "softmax": codes.SOFTMAX,
               "tanh": codes.TANH}

# (loss name, options) pairs the kernels are checked on against the reference.
CASES = [
    ("mae", {}),
    ("huber", {}),
    ("huber", {"delta": 0.3}),
    ("binary_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {"label_smoothing": 0.2}),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("categorical_crossentropy", {"from_logits": True}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.3}),
    ("sparse_categorical_crossentropy", {"from_logits": True}),
]


def spec(name, options):
    return (CODES[name], int(options.get("from_logits", False)),
            float(options.get("label_smoothing", 0.0)), float(options.get("delta", 1.0)))


def batch(name, activation, rng, n=6, units=4):
    z = rng.standard_normal((n, units)) * 2
    out = reference.activate(z, activation)
    if name == "sparse_categorical_crossentropy":
        labels = rng.integers(0, units, n)
        return out, np.eye(units)[labels], np.zeros((0, units)), labels
    if name.endswith("crossentropy"):
        y = rng.integers(0, 2, (n, units)).astype(float)
        if name == "categorical_crossentropy":
            y = np.eye(units)[rng.integers(0, units, n)]
        return out, y, y, np.zeros(0, np.int64)
    y = out + rng.standard_normal((n, units))  # errors on both sides of huber's delta
    return out, y, y, np.zeros(0, np.int64)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("name, options", CASES)
def test_kernels_match_the_reference_in_float64(name, options, activation):
    rng = np.random.default_rng(7)
    out, y, y_kernel, labels = batch(name, activation, rng)
    n = out.shape[0]
    weights = rng.uniform(0.5, 2.0, n)
    order = np.arange(n)
    d = np.empty_like(out)
    total = kl.output_delta(d, out, y_kernel, labels, weights, order, spec(name, options),
                            ACTIVATIONS[activation], n)
    expected = (weights * reference.sample_losses(out, y, name, **options)).sum()
    delta = reference.output_delta(out, y, name, activation, weights, **options)
    assert total == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(d, delta, rtol=1e-12, atol=1e-15)
    assert kl.batch_loss(out, y_kernel, labels, weights, order, spec(name, options)) == (
        pytest.approx(expected, rel=1e-12))
    # As a fit passes it: the code of the other loss family, and of logits unless
    # asked for, compiled out; the same bits.
    pruned = kl.kernel_codes((spec(name, options), codes.NO_ACCURACY, False))[0]
    d_pruned = np.empty_like(out)
    assert kl.output_delta(d_pruned, out, y_kernel, labels, weights, order, pruned,
                           ACTIVATIONS[activation], n, *pruned[4:]) == total
    np.testing.assert_array_equal(d_pruned, d)


def test_a_fits_kernel_codes_leave_out_what_it_does_not_use():
    """``kernel_codes``: the loss with None for from_logits when it reads
    probabilities, then the family flags (elementwise, categorical), True or None;
    accuracy None when no metric is logged."""
    sparse = spec("sparse_categorical_crossentropy", {})
    assert kl.kernel_codes((sparse, codes.NO_ACCURACY, False)) == (
        (codes.SPARSE_CATEGORICAL_CROSSENTROPY, None, 0.0, 1.0, None, True), None, False)
    assert kl.kernel_codes((sparse, codes.SPARSE_ACCURACY, False)) == (
        (codes.SPARSE_CATEGORICAL_CROSSENTROPY, None, 0.0, 1.0, None, True),
        codes.SPARSE_ACCURACY, False)
    logits = spec("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1})
    assert kl.kernel_codes((logits, codes.NO_ACCURACY, True)) == (
        (codes.BINARY_CROSSENTROPY, 1, 0.1, 1.0, True, None), codes.NO_ACCURACY, True)


@pytest.mark.parametrize("name, options", CASES)
def test_reference_deltas_are_the_loss_gradient(name, options):
    """Central differences of J = sum_i w_i L_i / n through a linear output."""
    rng = np.random.default_rng(3)
    probabilities = name.endswith("crossentropy") and not options.get("from_logits")
    source = ("softmax" if "categorical" in name else "sigmoid") if probabilities else "linear"
    out, y, _, _ = batch(name, source, rng, n=3, units=3)  # inside the clip
    out = out + 0.01 * (not probabilities)  # off mae's and huber's kinks
    w = np.array([1.0, 0.5, 2.0])

    def objective(o):
        return (w * reference.sample_losses(o, y, name, **options)).sum() / 3

    delta = reference.output_delta(out, y, name, "linear", w, **options)
    numeric = np.zeros_like(out)
    for index in np.ndindex(out.shape):
        step = 1e-5 * abs(out[index])  # relative: some probabilities are ~1e-4
        plus, minus = out.copy(), out.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (objective(plus) - objective(minus)) / (2 * step)
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-9)


def evaluate_loss(loss, out, y):
    """fastnn's loss of outputs ``out`` (a linear one-layer model on the identity)."""
    out = np.asarray(out, float)
    units = out.shape[1]
    model = Sequential([Dense(units, input_dim=units, use_bias=False)], dtype="float64")
    model.set_weights([np.eye(units)])
    model.compile(optimizer="sgd", loss=loss)
    return model.evaluate(np.asarray(out, float), np.asarray(y, float))["loss"]


def test_keras_docstring_examples():
    # Keras 3's docstrings: BinaryCrossentropy(from_logits=True) 0.865, Huber 0.155,
    # MeanAbsoluteError 0.5, CategoricalCrossentropy 1.177.
    assert evaluate_loss(losses.BinaryCrossentropy(from_logits=True),
                         [[-18.6, 0.51, 2.94, -12.8]], [[0, 1, 0, 0]]) == pytest.approx(
        0.865, abs=5e-4)
    assert evaluate_loss("huber", [[0.6, 0.4], [0.4, 0.6]], [[0, 1], [0, 0]]) == (
        pytest.approx(0.155))
    assert evaluate_loss("mae", [[1, 1], [1, 0]], [[0, 1], [0, 0]]) == 0.5
    assert evaluate_loss(losses.CategoricalCrossentropy(),
                         [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [[0, 1, 0], [0, 0, 1]]) == (
        pytest.approx(1.177, abs=5e-4))


def test_hand_computed_options():
    logits = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    lse = np.log(np.exp(logits).sum(1))
    # from logits: -log softmax of the target, (0.584051 + 1.389739) / 2
    assert evaluate_loss(losses.CategoricalCrossentropy(from_logits=True), logits, y) == (
        pytest.approx(((lse - logits[[0, 1], [1, 2]]).mean()), rel=1e-12))
    assert evaluate_loss(losses.CategoricalCrossentropy(from_logits=True), logits, y) == (
        pytest.approx(0.9868950, rel=1e-6))
    # smoothing 0.3 over 3 classes: targets 0.1 and 0.8
    smooth = y * 0.7 + 0.1
    assert evaluate_loss(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
                         logits, y) == pytest.approx(
        (smooth * (lse[:, None] - logits)).sum(1).mean(), rel=1e-12)
    # binary smoothing 0.2: targets 0.1 and 0.9; p = 0.5 gives log 2 whatever the target
    assert evaluate_loss(losses.BinaryCrossentropy(label_smoothing=0.2), [[0.5, 0.5]],
                         [[1.0, 0.0]]) == pytest.approx(np.log(2), rel=1e-12)
    assert evaluate_loss(losses.BinaryCrossentropy(label_smoothing=0.2), [[0.9, 0.2]],
                         [[1.0, 0.0]]) == pytest.approx(
        -(0.9 * np.log(0.9) + 0.1 * np.log(0.1) + 0.1 * np.log(0.2) + 0.9 * np.log(0.8)) / 2,
        rel=1e-12)
    # huber with delta 0.5: errors 0.25 (quadratic) and 2 (linear)
    assert evaluate_loss(losses.Huber(delta=0.5), [[0.25, 2.0]], [[0.0, 0.0]]) == (
        pytest.approx((0.5 * 0.25 ** 2 + 0.5 * 2 - 0.5 * 0.25) / 2, rel=1e-12))
    # sparse from logits equals categorical from logits on one-hot rows
    assert evaluate_loss(losses.SparseCategoricalCrossentropy(from_logits=True), logits,
                         [1, 2]) == pytest.approx(
        evaluate_loss(losses.CategoricalCrossentropy(from_logits=True), logits, y), rel=1e-15)


def test_loss_objects_are_checked():
    with pytest.raises(ValueError, match=r"^CategoricalCrossentropy: label_smoothing must be "
                                         r"in \[0, 1\], got 1\.5\."):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match=r"^BinaryCrossentropy: from_logits must be"):
        losses.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match=r"^Huber: delta must be a finite number >= 0"):
        losses.Huber(delta=-1.0)
    with pytest.raises(TypeError):
        losses.SparseCategoricalCrossentropy(label_smoothing=0.1)  # none in Keras either

    class Custom(losses.Loss):
        name = "mse"

    model = Sequential([Dense(1, input_dim=1)])
    with pytest.raises(TypeError, match=r"^compile: loss must be a name or one of "
                                        r"fastnn\.losses' classes"):
        model.compile(optimizer="sgd", loss=Custom())
    model.compile(optimizer="sgd", loss="MAE")
    assert model.loss == "mae" and model.loss_object == losses.MeanAbsoluteError()


def logits_model(loss, units=3, dtype="float64", seed=0):
    model = Sequential([Dense(5, activation="tanh", input_dim=4), Dense(units)], dtype=dtype,
                       seed=seed)
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss=loss)
    return model


def test_options_survive_save_load_and_resume_training(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 4)), np.eye(3)[rng.integers(0, 3, 40)]
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    model = logits_model(loss)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = fastnn.load_model(tmp_path / "m.npz")
    assert loaded.loss_object == loss and loaded.loss == "categorical_crossentropy"
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    plain = logits_model("huber")
    plain.save(tmp_path / "h.npz")
    assert fastnn.load_model(tmp_path / "h.npz").loss == "huber"


def test_fit_many_keeps_each_models_loss_options():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 4)), np.eye(3)[rng.integers(0, 3, 30)]
    options = [losses.CategoricalCrossentropy(from_logits=True),
               losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
               losses.Huber(delta=0.5)]
    group = [logits_model(loss, seed=i) for i, loss in enumerate(options)]
    fastnn.fit_many(group, x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for i, (mine, loss) in enumerate(zip(group, options)):
        theirs = logits_model(loss, seed=i)
        theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_matches_the_reference_trajectory():
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal((24, 4)), rng.integers(0, 3, 24)
    y = np.eye(3)[labels]
    for loss, name, options in [
            (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
             "categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
            (losses.Huber(delta=0.7), "huber", {"delta": 0.7}),
            ("mae", "mae", {})]:
        model = Sequential([Dense(5, activation="tanh", input_dim=4), Dense(3)],
                           dtype="float64", seed=3)
        model.compile(optimizer=SGD(0.1), loss=loss)
        w = model.get_weights()
        ref = reference.ReferenceMLP(w[0::2], w[1::2], ["tanh", "linear"], name, "sgd",
                                     loss_options=options, learning_rate=0.1)
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        for _ in range(2):
            ref.train_epoch(x, y, np.arange(24), 8)
        for a, b in zip(model.get_weights(), [p for pair in zip(ref.weights, ref.biases)
                                              for p in pair]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def keras_or_skip():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def test_live_keras_fits():
    keras = keras_or_skip()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 20)
    onehot = np.eye(3, dtype=np.float32)[labels]
    binary = rng.integers(0, 2, (20, 3)).astype(np.float32)
    regression = rng.standard_normal((20, 3)).astype(np.float32)
    cases = [  # (fastnn loss, Keras loss, output activation, targets)
        (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
         keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), None, binary),
        (losses.BinaryCrossentropy(label_smoothing=0.2),
         keras.losses.BinaryCrossentropy(label_smoothing=0.2), "sigmoid", binary),
        (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
         keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), None,
         onehot),
        (losses.CategoricalCrossentropy(label_smoothing=0.2),
         keras.losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax", onehot),
        (losses.SparseCategoricalCrossentropy(from_logits=True),
         keras.losses.SparseCategoricalCrossentropy(from_logits=True), None, labels),
        ("mae", "mae", None, regression),
        (losses.Huber(delta=0.5), keras.losses.Huber(delta=0.5), None, regression),
    ]
    for ours_loss, keras_loss, activation, y in cases:
        ours = Sequential([Dense(5, activation="tanh", input_dim=4),
                           Dense(3, activation=activation)], dtype="float32", seed=5)
        ours.compile(optimizer=SGD(0.1), loss=ours_loss)
        theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                                   keras.layers.Dense(3, activation=activation)])
        theirs.set_weights(ours.get_weights())
        theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras_loss)
        expected = theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        got = ours.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        np.testing.assert_allclose(got["loss"], expected["loss"], rtol=2e-5,
                                   err_msg=repr(ours_loss))
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=repr(ours_loss))
