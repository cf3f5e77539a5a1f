"""Input validation: every bad argument is refused before any state changes.

Every refusal asserts three things: the exception type, a message naming the argument
(``pytest.raises(..., match=...)``), and that the model's weights, optimizer state, RNG
state and counters are exactly what they were before the call.
"""
import re

import numpy as np
import pytest

from builders import (FEATURES, FLAVORS, HEADS, LABELS, N, TARGETS, X, assert_same_state,
                      make_model, put, state_of)
from fastnn import Dense, Sequential, callbacks, initializers, optimizers, regularizers
from fastnn import schedules
from fastnn._validation import NotCompiledError
from fastnn.callbacks import LearningRateScheduler, ModelCheckpoint, TerminateOnNaN


def test_integer_and_boolean_input_is_finite_unscanned():
    """numeric_array scans only floating input: integers and booleans are finite in any
    float dtype, int64's and uint64's extremes included."""
    from fastnn._validation import numeric_array
    for extremes in (np.iinfo(np.int64).min, np.iinfo(np.int64).max), (0, np.iinfo(np.uint64).max):
        out = numeric_array("fit", "y", np.array(extremes), np.float32)
        assert out.dtype == np.float32 and np.isfinite(out).all()
    assert numeric_array("fit", "y", np.array([True, False]), np.float64).tolist() == [1.0, 0.0]


# ------------------------------------------------------------------------ fit
# (id, loss, overrides(x, y) -> fit kwargs, exception, message pattern, flavors or None=all)
FIT_CASES = [
    ("x-nan", "mse", lambda x, y: dict(x=put(x, (3, 1), np.nan)), ValueError,
     r"^fit: x contains 1 NaN or infinite value\(s\)"),
    ("x-inf", "mse", lambda x, y: dict(x=put(x, (0, 0), -np.inf)), ValueError,
     r"^fit: x contains 1 NaN or infinite value\(s\)"),
    ("x-overflows-float32", "mse", lambda x, y: dict(x=put(x, (0, 0), 1e39)), ValueError,
     r"^fit: x has 1 value\(s\) too large for float32"),
    ("y-overflows-float32", "mse", lambda x, y: dict(y=put(y, (2, 0), -1e39)), ValueError,
     r"^fit: y has 1 value\(s\) too large for float32"),
    ("y-nan", "mse", lambda x, y: dict(y=put(y, (5, 1), np.nan)), ValueError,
     r"^fit: y contains 1 NaN or infinite value\(s\)"),
    ("y-inf", "binary_crossentropy", lambda x, y: dict(y=put(y, (5, 0), np.inf)), ValueError,
     r"^fit: y contains 1 NaN or infinite"),
    ("labels-nan", "sparse_categorical_crossentropy",
     lambda x, y: dict(y=put(y, 2, np.nan)), ValueError, r"^fit: y contains 1 NaN"),
    ("x-too-few-features", "mse", lambda x, y: dict(x=x[:, :3]), ValueError,
     r"^fit: x has 3 features, but the model's first layer expects 4\."),
    ("x-too-many-features", "mse", lambda x, y: dict(x=np.hstack([x, x])), ValueError,
     r"^fit: x has 8 features, but the model's first layer expects 4\."),
    ("x-y-length-mismatch", "mse", lambda x, y: dict(y=y[:-1]), ValueError,
     r"^fit: x and y have different numbers of samples: 20 and 19\."),
    ("labels-length-mismatch", "sparse_categorical_crossentropy",
     lambda x, y: dict(x=x[:5]), ValueError,
     r"^fit: x and y have different numbers of samples: 5 and 20\."),
    ("x-empty", "mse", lambda x, y: dict(x=np.zeros((0, FEATURES))), ValueError,
     r"^fit: x is empty \(shape \(0, 4\)\)"),
    ("x-empty-list", "mse", lambda x, y: dict(x=[]), ValueError, r"^fit: x is empty"),
    ("y-empty", "mse", lambda x, y: dict(y=np.zeros((0, 2))), ValueError, r"^fit: y is empty"),
    ("x-scalar", "mse", lambda x, y: dict(x=3.0), ValueError,
     r"^fit: x must be an array of samples, got the scalar 3\.0\."),
    ("x-1d", "mse", lambda x, y: dict(x=x[:, 0]), ValueError,
     r"^fit: x must be 2-D \(samples, features\), got shape \(20,\)"),
    ("x-strings", "mse", lambda x, y: dict(x=x.astype(str)), TypeError,
     r"^fit: x must hold real numbers, got an array of dtype <U"),
    ("x-none", "mse", lambda x, y: dict(x=None), TypeError,
     r"^fit: x must hold real numbers, got an array of dtype object"),
    ("x-objects", "mse", lambda x, y: dict(x=np.array([[object()] * 4] * N)), TypeError,
     r"^fit: x must hold real numbers"),
    ("x-complex", "mse", lambda x, y: dict(x=x + 1j), TypeError,
     r"^fit: x must hold real numbers, got complex values"),
    ("x-ragged", "mse", lambda x, y: dict(x=[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]]), ValueError,
     r"^fit: x could not be read as an array"),
    ("y-strings", "mse", lambda x, y: dict(y=y.astype(str)), TypeError,
     r"^fit: y must hold real numbers"),
    ("y-none", "mse", lambda x, y: dict(y=None), ValueError, r"^fit: y is required"),
    ("labels-too-large", "sparse_categorical_crossentropy",
     lambda x, y: dict(y=put(y, 4, 3, np.int64)), ValueError,
     r"^fit: y holds labels in \[0, 3\], but the output layer has 3 units \(labels 0\.\.2\)"),
    ("labels-negative", "sparse_categorical_crossentropy",
     lambda x, y: dict(y=put(y, 4, -1, np.int64)), ValueError,
     r"^fit: y holds labels in \[-1, 2\], but the output layer has 3 units"),
    ("labels-fractional", "sparse_categorical_crossentropy",
     lambda x, y: dict(y=put(y, 4, 1.5)), ValueError,
     r"^fit: y must hold integer class labels for sparse_categorical_crossentropy, "
     r"got fractional values"),
    ("labels-one-hot", "sparse_categorical_crossentropy",
     lambda x, y: dict(y=np.eye(3)[y]), ValueError,
     r"^fit: sparse_categorical_crossentropy expects integer labels of shape \(20,\) or "
     r"\(20, 1\), got shape \(20, 3\).*categorical_crossentropy"),
    ("one-hot-too-wide", "categorical_crossentropy",
     lambda x, y: dict(y=np.eye(4)[LABELS]), ValueError,
     r"^fit: y has shape \(20, 4\), expected \(20, 3\) to match the output layer's 3 units"),
    ("one-hot-too-narrow", "categorical_crossentropy",
     lambda x, y: dict(y=y[:, :2]), ValueError, r"^fit: y has shape \(20, 2\), expected \(20, 3\)"),
    ("one-hot-given-labels", "categorical_crossentropy", lambda x, y: dict(y=LABELS),
     ValueError, r"^fit: y has shape \(20,\), but the output layer has 3 units.*"
     r"sparse_categorical_crossentropy"),
    ("one-hot-out-of-range", "categorical_crossentropy", lambda x, y: dict(y=2 * y), ValueError,
     r"^fit: y holds values in \[0, 2\], but categorical_crossentropy needs targets in "
     r"\[0, 1\]\."),
    ("y-3d", "mse", lambda x, y: dict(y=y[:, :, None]), ValueError,
     r"^fit: y has shape \(20, 2, 1\), expected \(20, 2\)"),
    ("mse-wrong-width", "mse", lambda x, y: dict(y=y[:, :1]), ValueError,
     r"^fit: y has shape \(20, 1\), expected \(20, 2\)"),
    ("bce-above-one", "binary_crossentropy", lambda x, y: dict(y=put(y, (0, 0), 2.0)),
     ValueError, r"^fit: y holds values in \[0, 2\], but binary_crossentropy needs targets in "
     r"\[0, 1\]\."),
    ("bce-negative", "binary_crossentropy", lambda x, y: dict(y=put(y, (0, 0), -0.5)),
     ValueError, r"^fit: y holds values in \[-0\.5, 1\], but binary_crossentropy needs targets"),
    ("batch-size-zero", "mse", lambda x, y: dict(batch_size=0), ValueError,
     r"^fit: batch_size must be a positive int, got 0\."),
    ("batch-size-negative", "mse", lambda x, y: dict(batch_size=-8), ValueError,
     r"^fit: batch_size must be a positive int, got -8\."),
    ("batch-size-float", "mse", lambda x, y: dict(batch_size=8.0), TypeError,
     r"^fit: batch_size must be an int, got float 8\.0"),
    ("batch-size-bool", "mse", lambda x, y: dict(batch_size=True), TypeError,
     r"^fit: batch_size must be an int, got bool"),
    ("batch-size-none", "mse", lambda x, y: dict(batch_size=None), TypeError,
     r"^fit: batch_size must be an int, got NoneType"),
    ("epochs-negative", "mse", lambda x, y: dict(epochs=-1), ValueError,
     r"^fit: epochs must be a non-negative int, got -1\."),
    ("epochs-float", "mse", lambda x, y: dict(epochs=2.5), TypeError,
     r"^fit: epochs must be an int, got float 2\.5"),
    ("initial-epoch-negative", "mse", lambda x, y: dict(initial_epoch=-2), ValueError,
     r"^fit: initial_epoch must be a non-negative int, got -2\."),
    ("validation-split-one", "mse", lambda x, y: dict(validation_split=1.0), ValueError,
     r"^fit: validation_split must be in \[0, 1\.0\), got 1\.0\."),
    ("validation-split-negative", "mse", lambda x, y: dict(validation_split=-0.1), ValueError,
     r"^fit: validation_split must be in \[0, 1\.0\), got -0\.1\."),
    ("validation-split-nan", "mse", lambda x, y: dict(validation_split=float("nan")),
     ValueError, r"^fit: validation_split must be in \[0, 1\.0\), got nan\."),
    ("validation-split-string", "mse", lambda x, y: dict(validation_split="0.2"), TypeError,
     r"^fit: validation_split must be a number, got str"),
    ("validation-split-empty", "mse", lambda x, y: dict(validation_split=0.99), ValueError,
     r"^fit: validation_split=0\.99 leaves 0 training and 20 validation samples of 20\."),
    ("sample-and-class-weight", "binary_crossentropy",
     lambda x, y: dict(sample_weight=np.ones(len(x)), class_weight={0: 2.0}), ValueError,
     r"^fit: you cannot pass class_weight and sample_weight at the same time"),
    ("validation-data-dict", "mse", lambda x, y: dict(validation_data={"x": x, "y": y}),
     TypeError, r"^fit: validation_data must be a tuple \(x_val, y_val\).*got dict"),
    ("validation-data-one-item", "mse", lambda x, y: dict(validation_data=(x,)), ValueError,
     r"^fit: validation_data must be a tuple \(x_val, y_val\).*got 1 items"),
    ("validation-data-features", "mse", lambda x, y: dict(validation_data=(x[:, :3], y)),
     ValueError, r"^fit \(validation_data\): x has 3 features, but the model's first layer "
     r"expects 4\."),
    ("validation-data-lengths", "mse", lambda x, y: dict(validation_data=(x, y[:7])),
     ValueError, r"^fit \(validation_data\): x and y have different numbers of samples: "
     r"20 and 7\."),
    ("validation-data-nan", "mse",
     lambda x, y: dict(validation_data=(put(x, (1, 1), np.nan), y)), ValueError,
     r"^fit \(validation_data\): x contains 1 NaN"),
    ("validation-data-labels", "sparse_categorical_crossentropy",
     lambda x, y: dict(validation_data=(x, y + 1)), ValueError,
     r"^fit \(validation_data\): y holds labels in \[1, 3\]"),
    ("validation-data-weights", "mse",
     lambda x, y: dict(validation_data=(x, y, -np.ones(N))), ValueError,
     r"^fit \(validation_data\): sample_weight must be >= 0"),
    ("sample-weight-shape", "mse", lambda x, y: dict(sample_weight=np.ones(N - 1)),
     ValueError, r"^fit: sample_weight must have shape \(20,\), got \(19,\)\."),
    ("sample-weight-negative", "mse", lambda x, y: dict(sample_weight=put(np.ones(N), 3, -1)),
     ValueError, r"^fit: sample_weight must be >= 0\."),
    ("sample-weight-nan", "mse", lambda x, y: dict(sample_weight=put(np.ones(N), 3, np.nan)),
     ValueError, r"^fit: sample_weight contains 1 NaN"),
    ("sample-weight-strings", "mse", lambda x, y: dict(sample_weight=["a"] * N), TypeError,
     r"^fit: sample_weight must hold real numbers"),
    ("class-weight-list", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight=[1.0, 2.0, 3.0]), TypeError,
     r"^fit: class_weight must be a dict \{class: weight\}, got list\."),
    ("class-weight-negative-key", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight={-1: 2.0}), ValueError,
     r"^fit: class_weight has key -1, but the model's classes are 0\.\.2\."),
    ("class-weight-key-too-large", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight={3: 2.0}), ValueError,
     r"^fit: class_weight has key 3, but the model's classes are 0\.\.2\."),
    ("class-weight-binary-key", "binary_crossentropy",
     lambda x, y: dict(class_weight={0: 1.0, 2: 2.0}), ValueError,
     r"^fit: class_weight has key 2, but the model's classes are 0\.\.1\."),
    ("class-weight-string-key", "categorical_crossentropy",
     lambda x, y: dict(class_weight={"cat": 2.0}), TypeError,
     r"^fit: class_weight keys must be int class indices, got str 'cat'\."),
    ("class-weight-float-key", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight={0.5: 2.0}), TypeError,
     r"^fit: class_weight keys must be int class indices, got float 0\.5\."),
    ("class-weight-negative-value", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight={0: -1.0}), ValueError,
     r"^fit: class_weight\[0\] must be a finite number >= 0, got -1\.0\."),
    ("class-weight-nan-value", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight={1: float("nan")}), ValueError,
     r"^fit: class_weight\[1\] must be a finite number >= 0, got nan\."),
    ("class-weight-string-value", "sparse_categorical_crossentropy",
     lambda x, y: dict(class_weight={1: "heavy"}), TypeError,
     r"^fit: class_weight\[1\] must be a number, got str 'heavy'\."),
    ("verbose", "mse", lambda x, y: dict(verbose=5), ValueError,
     r"^fit: verbose must be 0, 1, 2 or 'auto', got 5\."),
    ("shuffle-string", "mse", lambda x, y: dict(shuffle="batch"), TypeError,
     r"^fit: shuffle must be True or False, got str 'batch'\."),
    ("callbacks-not-a-list", "mse", lambda x, y: dict(callbacks=TerminateOnNaN()), TypeError,
     r"^fit: callbacks must be a list of Callback instances, got TerminateOnNaN\."),
    ("callbacks-wrong-item", "mse", lambda x, y: dict(callbacks=[TerminateOnNaN(), print]),
     TypeError, r"^fit: callbacks must be fastnn\.callbacks\.Callback instances, got "
     r"builtin_function_or_method\."),
]
# The model's own width is unknown before the first fit of an "inferred" model.
_NEEDS_DECLARED_WIDTH = {"x-too-few-features", "x-too-many-features"}


def _with_flavors(cases, needs_declared_width):
    """Every case on every model flavor, except width checks on a model whose width
    is not known yet (there is nothing to contradict)."""
    return [pytest.param(flavor, *case, id=f"{case[0]}-{flavor}")
            for case in cases for flavor in FLAVORS
            if not (flavor == "inferred" and case[0] in needs_declared_width)]


@pytest.mark.parametrize("flavor, case_id, loss, overrides, error, pattern",
                         _with_flavors(FIT_CASES, _NEEDS_DECLARED_WIDTH))
def test_fit_refuses_bad_input_before_touching_state(flavor, case_id, loss, overrides, error,
                                                     pattern):
    model = make_model(loss, flavor)
    before = state_of(model)
    kwargs = dict(x=X, y=TARGETS[loss], epochs=2, batch_size=8, verbose=0)
    kwargs.update(overrides(X, TARGETS[loss]))
    with pytest.raises(error, match=pattern):
        model.fit(**kwargs)
    assert_same_state(model, before)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("loss", list(HEADS))
def test_the_same_calls_succeed_with_good_input(loss, flavor):
    """Positive control for the table above: the unmodified call trains."""
    model = make_model(loss, flavor)
    history = model.fit(X, TARGETS[loss], epochs=2, batch_size=8, verbose=0,
                        validation_data=(X, TARGETS[loss], np.ones(N)),
                        sample_weight=np.ones(N) if loss == "mse" else None,
                        class_weight={0: 1.0, 1: 2.0} if loss != "mse" else None)
    assert len(history.history["loss"]) == 2
    assert model.built and np.isfinite(model.params).all()


def test_fit_flattens_inputs_with_more_dimensions():
    model = make_model("mse", "inferred")
    model.fit(X.reshape(N, 2, 2), TARGETS["mse"], epochs=1, verbose=0)
    assert model.input_dim == 4
    np.testing.assert_array_equal(model.predict(X.reshape(N, 2, 2)), model.predict(X))
    before = state_of(model)
    with pytest.raises(ValueError, match=r"^predict: x has 6 features, but the model's first "
                                         r"layer expects 4\."):
        model.predict(np.zeros((3, 2, 3)))
    assert_same_state(model, before)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_fit_before_compile(flavor):
    model = Sequential([Dense(3, input_dim=None if flavor == "inferred" else FEATURES)], seed=1)
    if flavor == "trained":
        model.build()
    before = state_of(model)
    with pytest.raises(NotCompiledError, match=r"^fit: the model must be compiled before "
                                               r"training; call model\.compile\("):
        model.fit(X, TARGETS["mse"], verbose=0)
    assert_same_state(model, before)
    # Keras raises RuntimeError; the issue asks for ValueError: it is both.
    with pytest.raises(RuntimeError):
        model.fit(X, TARGETS["mse"], verbose=0)
    with pytest.raises(ValueError):
        model.fit(X, TARGETS["mse"], verbose=0)
    with pytest.raises(NotCompiledError, match=r"^evaluate: the model must be compiled"):
        model.evaluate(X, TARGETS["mse"])
    assert_same_state(model, before)


def test_a_model_without_layers_is_refused():
    model = Sequential(seed=0)
    model.compile(optimizer="sgd", loss="mse")
    before = state_of(model)
    for call, where in ((lambda: model.fit(X, TARGETS["mse"], verbose=0), "fit"),
                        (lambda: model.evaluate(X, TARGETS["mse"]), "evaluate"),
                        (lambda: model.predict(X), "predict"),
                        (lambda: model.set_weights([]), "set_weights")):
        with pytest.raises(ValueError, match=rf"^{where}: the model has no layers"):
            call()
        assert_same_state(model, before)


# ------------------------------------------------------------------- evaluate
EVALUATE_CASES = [
    ("x-nan", "mse", lambda x, y: dict(x=put(x, (0, 2), np.nan)), ValueError,
     r"^evaluate: x contains 1 NaN"),
    ("y-inf", "mse", lambda x, y: dict(y=put(y, (0, 0), np.inf)), ValueError,
     r"^evaluate: y contains 1 NaN or infinite"),
    ("x-features", "mse", lambda x, y: dict(x=x[:, :2]), ValueError,
     r"^evaluate: x has 2 features, but the model's first layer expects 4\."),
    ("x-y-length-mismatch", "mse", lambda x, y: dict(y=y[:3]), ValueError,
     r"^evaluate: x and y have different numbers of samples: 20 and 3\."),
    ("x-empty", "mse", lambda x, y: dict(x=np.empty((0, 4))), ValueError,
     r"^evaluate: x is empty"),
    ("x-strings", "mse", lambda x, y: dict(x=[["a"] * 4] * N), TypeError,
     r"^evaluate: x must hold real numbers"),
    ("labels-out-of-range", "sparse_categorical_crossentropy", lambda x, y: dict(y=y + 5),
     ValueError, r"^evaluate: y holds labels in \[5, 7\], but the output layer has 3 units"),
    ("labels-fractional", "sparse_categorical_crossentropy", lambda x, y: dict(y=y + 0.25),
     ValueError, r"^evaluate: y must hold integer class labels"),
    ("one-hot-width", "categorical_crossentropy", lambda x, y: dict(y=np.eye(5)[LABELS]),
     ValueError, r"^evaluate: y has shape \(20, 5\), expected \(20, 3\)"),
    ("bce-range", "binary_crossentropy", lambda x, y: dict(y=y + 1), ValueError,
     r"^evaluate: y holds values in \[1, 2\], but binary_crossentropy needs targets in \[0, 1\]"),
    ("batch-size-zero", "mse", lambda x, y: dict(batch_size=0), ValueError,
     r"^evaluate: batch_size must be a positive int, got 0\."),
    ("batch-size-float", "mse", lambda x, y: dict(batch_size=1.5), TypeError,
     r"^evaluate: batch_size must be an int, got float"),
    ("sample-weight-negative", "mse", lambda x, y: dict(sample_weight=-np.ones(N)), ValueError,
     r"^evaluate: sample_weight must be >= 0\."),
    ("y-none", "mse", lambda x, y: dict(y=None), ValueError, r"^evaluate: y is required"),
]


@pytest.mark.parametrize("flavor, case_id, loss, overrides, error, pattern",
                         _with_flavors(EVALUATE_CASES, {"x-features"}))
def test_evaluate_refuses_bad_input_before_touching_state(flavor, case_id, loss, overrides,
                                                          error, pattern):
    model = make_model(loss, flavor)
    before = state_of(model)
    kwargs = dict(x=X, y=TARGETS[loss])
    kwargs.update(overrides(X, TARGETS[loss]))
    with pytest.raises(error, match=pattern):
        model.evaluate(**kwargs)
    assert_same_state(model, before)


# -------------------------------------------------------------------- predict
PREDICT_CASES = [
    ("x-nan", dict(x=put(X, (4, 0), np.nan)), ValueError, r"^predict: x contains 1 NaN"),
    ("x-inf", dict(x=put(X, (4, 0), np.inf)), ValueError, r"^predict: x contains 1 NaN or inf"),
    ("x-features", dict(x=X[:, :1]), ValueError,
     r"^predict: x has 1 features, but the model's first layer expects 4\."),
    ("x-empty", dict(x=np.zeros((0, 4))), ValueError, r"^predict: x is empty"),
    ("x-1d", dict(x=X[0]), ValueError, r"^predict: x must be 2-D.*reshape\(1, -1\)"),
    ("x-strings", dict(x=X.astype(str)), TypeError, r"^predict: x must hold real numbers"),
    ("x-none", dict(x=None), TypeError, r"^predict: x must hold real numbers"),
    ("x-ragged", dict(x=[[1.0], [1.0, 2.0]]), ValueError, r"^predict: x could not be read"),
    ("batch-size-zero", dict(x=X, batch_size=0), ValueError,
     r"^predict: batch_size must be a positive int, got 0\."),
    ("batch-size-negative", dict(x=X, batch_size=-1), ValueError,
     r"^predict: batch_size must be a positive int, got -1\."),
    ("batch-size-float", dict(x=X, batch_size=2.0), TypeError,
     r"^predict: batch_size must be an int, got float"),
]


@pytest.mark.parametrize("flavor, case_id, kwargs, error, pattern",
                         _with_flavors(PREDICT_CASES, {"x-features"}))
def test_predict_refuses_bad_input_before_touching_state(flavor, case_id, kwargs, error,
                                                         pattern):
    model = make_model("sparse_categorical_crossentropy", flavor)
    before = state_of(model)
    with pytest.raises(error, match=pattern):
        model.predict(**kwargs)
    assert_same_state(model, before)


def test_predict_builds_an_unbuilt_model_once():
    model = make_model("mse", "inferred")
    first = model.predict(X)
    params = model.params.copy()
    np.testing.assert_array_equal(model.predict(X), first)
    assert model.params.tobytes() == params.tobytes()


# ------------------------------------------------ get_weights and set_weights
def _good_weights(model):
    return [np.full(shape, 0.5) for shape in model._weight_shapes("test")]


SET_WEIGHTS_CASES = [
    ("too-few", lambda ws: ws[:3], ValueError,
     r"^set_weights: expected 4 arrays \(\[W1, b1, W2, b2, \.\.\.\]\), got 3\."),
    ("too-many", lambda ws: ws + [ws[-1]], ValueError,
     r"^set_weights: expected 4 arrays .*got 5\."),
    ("transposed", lambda ws: [ws[0].T] + ws[1:], ValueError,
     r"^set_weights: weights\[0\] has shape \(5, 4\), expected \(4, 5\)\."),
    ("last-shape", lambda ws: ws[:3] + [np.zeros(4)], ValueError,
     r"^set_weights: weights\[3\] has shape \(4,\), expected \(3,\)\."),
    ("nan", lambda ws: ws[:1] + [put(ws[1], 2, np.nan)] + ws[2:], ValueError,
     r"^set_weights: weights\[1\] contains 1 NaN or infinite"),
    ("inf-last", lambda ws: ws[:3] + [put(ws[3], 0, -np.inf)], ValueError,
     r"^set_weights: weights\[3\] contains 1 NaN or infinite"),
    ("strings", lambda ws: [ws[0].astype(str)] + ws[1:], TypeError,
     r"^set_weights: weights\[0\] must hold real numbers"),
    ("empty", lambda ws: ws[:1] + [np.zeros(0)] + ws[2:], ValueError,
     r"^set_weights: weights\[1\] is empty"),
    ("none", lambda ws: None, TypeError,
     r"^set_weights: weights must be a list of arrays \(\[W1, b1, W2, b2, \.\.\.\]\), got "
     r"NoneType\."),
    ("one-array", lambda ws: ws[0], TypeError,
     r"^set_weights: weights must be a list of arrays .*got ndarray\."),
]


@pytest.mark.parametrize("flavor", ["trained", "declared"])
@pytest.mark.parametrize("case_id, mutate, error, pattern", SET_WEIGHTS_CASES,
                         ids=[case[0] for case in SET_WEIGHTS_CASES])
def test_set_weights_refuses_before_writing_anything(case_id, mutate, error, pattern, flavor):
    model = make_model("sparse_categorical_crossentropy", flavor)
    weights = _good_weights(model)
    before = state_of(model)
    with pytest.raises(error, match=pattern):
        model.set_weights(mutate(weights))
    assert_same_state(model, before)
    model.set_weights(weights)  # positive control
    for mine, given in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(mine, given)


def test_set_weights_on_a_model_of_unknown_width():
    model = make_model("mse", "inferred")
    before = state_of(model)
    with pytest.raises(ValueError, match=r"^set_weights: the input size is unknown"):
        model.set_weights([np.zeros((4, 5)), np.zeros(5), np.zeros((5, 2)), np.zeros(2)])
    assert_same_state(model, before)


def test_weights_of_an_unbuilt_model_of_unknown_width_name_the_call():
    model = make_model("mse", "inferred")
    before = state_of(model)
    for call, where in ((model.get_weights, "get_weights"), (model.count_params, "count_params")):
        with pytest.raises(ValueError, match=rf"^{where}: the input size is unknown"):
            call()
        assert_same_state(model, before)
    with pytest.raises(ValueError, match=r"^get_weights: the model has no layers"):
        Sequential(seed=0).get_weights()


# -------------------------------------------------------------------- compile
COMPILE_CASES = [
    ("optimizer-unknown", dict(optimizer="nadam"), ValueError,
     r"^compile: unknown optimizer 'nadam'\. Expected one of: 'sgd', 'adam', 'adamw', "
     r"'rmsprop'\."),
    ("optimizer-type", dict(optimizer=3), TypeError,
     r"^compile: optimizer must be a string name, got int 3\. Expected one of: 'sgd'"),
    ("optimizer-none", dict(optimizer=None), TypeError,
     r"^compile: optimizer must be a string name, got NoneType"),
    ("loss-unknown", dict(loss="crossentropy"), ValueError,
     r"^compile: unknown loss 'crossentropy'\. Expected one of: 'mse', 'mean_squared_error', "
     r"'sse', 'binary_crossentropy', 'categorical_crossentropy', "
     r"'sparse_categorical_crossentropy', 'mae', 'mean_absolute_error', 'huber'\."),
    ("loss-missing", dict(loss=None), ValueError,
     r"^compile: loss is required\. Expected one of: 'mse'"),
    ("loss-type", dict(loss=len), TypeError, r"^compile: loss must be a string name"),
    ("metric-unknown", dict(metrics=["accuracy", "auc"]), ValueError,
     r"^compile: unknown metric 'auc'\. Expected one of: 'accuracy', 'acc', 'mse'"),
    ("metrics-type", dict(metrics=3), TypeError,
     r"^compile: metrics must be a list of names, got int"),
    ("device-unknown", dict(device="tpu"), ValueError,
     r"^compile: unknown device 'tpu'\. Expected one of: 'cpu', 'cuda'\."),
]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("case_id, overrides, error, pattern", COMPILE_CASES,
                         ids=[case[0] for case in COMPILE_CASES])
def test_compile_refuses_before_replacing_anything(case_id, overrides, error, pattern, flavor):
    model = make_model("sparse_categorical_crossentropy", flavor)
    before = state_of(model)
    kwargs = dict(optimizer="sgd", loss="mse", metrics=["mae"])
    kwargs.update(overrides)
    with pytest.raises(error, match=pattern):
        model.compile(**kwargs)
    assert_same_state(model, before)


# --------------------------------------------------- constructors and configs
CONSTRUCTOR_CASES = [
    ("dense-units-zero", lambda: Dense(0), ValueError,
     r"^Dense: units must be a positive int, got 0\."),
    ("dense-units-negative", lambda: Dense(-4), ValueError,
     r"^Dense: units must be a positive int, got -4\."),
    # ValueError, as Keras raises for a units value that is not a positive int.
    ("dense-units-float", lambda: Dense(2.5), ValueError,
     r"^Dense: units must be a positive int, got float 2\.5"),
    ("dense-units-string", lambda: Dense("8"), ValueError,
     r"^Dense: units must be a positive int, got str '8'"),
    ("dense-units-bool", lambda: Dense(True), ValueError,
     r"^Dense: units must be a positive int, got bool True"),
    ("dense-activation", lambda: Dense(4, activation="gelu"), ValueError,
     r"^Dense: unknown activation 'gelu'\. Expected one of: 'linear', 'sigmoid', 'tanh', "
     r"'relu', 'leaky_relu', 'softmax'\."),
    ("dense-activation-type", lambda: Dense(4, activation=np.tanh), TypeError,
     r"^Dense: activation must be a string name, got ufunc.*Expected one of: 'linear'"),
    ("dense-kernel-initializer", lambda: Dense(4, kernel_initializer="xavier"), ValueError,
     r"^Dense: unknown kernel_initializer 'xavier'\. Expected one of: 'zeros', 'ones', .*"
     r"'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal'"),
    ("dense-bias-initializer", lambda: Dense(4, bias_initializer="nil"), ValueError,
     r"^Dense: unknown bias_initializer 'nil'\. Expected one of: 'zeros'"),
    ("dense-initializer-type", lambda: Dense(4, kernel_initializer=0.1), TypeError,
     r"^Dense: kernel_initializer must be a string name, got float"),
    ("dense-use-bias", lambda: Dense(4, use_bias="no"), TypeError,
     r"^Dense: use_bias must be True or False, got str 'no'\."),
    ("dense-input-dim", lambda: Dense(4, input_dim=0), ValueError,
     r"^Dense: input_dim must be a positive int, got 0\."),
    ("dense-input-dim-type", lambda: Dense(4, input_dim=(28, 28)), TypeError,
     r"^Dense: input_dim must be an int, got tuple"),
    ("dense-regularizer", lambda: Dense(4, kernel_regularizer="l1"), ValueError,
     r"^Dense: kernel_regularizer must be None, 'l2' or"),
    ("sequential-dtype", lambda: Sequential(dtype="float16"), ValueError,
     r"^Sequential: unknown dtype 'float16'\. Expected one of: 'float32', 'float64'\."),
    ("sequential-dtype-int", lambda: Sequential(dtype=np.int32), ValueError,
     r"^Sequential: unknown dtype .*int32.*Expected one of: 'float32', 'float64'\."),
    ("sequential-dtype-type", lambda: Sequential(dtype=object()), TypeError,
     r"^Sequential: dtype must be a dtype name or NumPy dtype, got object"),
    ("sequential-seed", lambda: Sequential(seed=-1), ValueError,
     r"^Sequential: seed must be a non-negative int, got -1\."),
    ("sequential-seed-type", lambda: Sequential(seed=0.5), TypeError,
     r"^Sequential: seed must be an int, got float"),
    ("sequential-layer-type", lambda: Sequential([Dense(2), "relu"]), TypeError,
     r"^Sequential\.add: expected a fastnn Dense or Dropout layer, got str\."),
    ("sequential-layer-width", lambda: Sequential([Dense(2, input_dim=3), Dense(1, input_dim=5)]),
     ValueError,
     r"^Sequential\.add: layer input_dim=5 does not match the previous layer's 2 units"),
    ("sgd-lr-negative", lambda: optimizers.SGD(-0.1), ValueError,
     r"^SGD: learning_rate must be a finite number >= 0, got -0\.1\."),
    ("sgd-lr-nan", lambda: optimizers.SGD(float("nan")), ValueError,
     r"^SGD: learning_rate must be a finite number >= 0, got nan\."),
    ("sgd-lr-inf", lambda: optimizers.SGD(float("inf")), ValueError,
     r"^SGD: learning_rate must be a finite number >= 0, got inf\."),
    ("sgd-lr-string", lambda: optimizers.SGD("0.1"), TypeError,
     r"^SGD: learning_rate must be a float or a fastnn\.schedules schedule, got str"),
    ("sgd-momentum", lambda: optimizers.SGD(0.1, momentum=1.5), ValueError,
     r"^SGD: momentum must be in \[0, 1\], got 1\.5\."),
    ("sgd-momentum-negative", lambda: optimizers.SGD(0.1, momentum=-0.5), ValueError,
     r"^SGD: momentum must be in \[0, 1\], got -0\.5\."),
    ("sgd-nesterov", lambda: optimizers.SGD(0.1, nesterov="yes"), TypeError,
     r"^SGD: nesterov must be True or False, got str"),
    ("sgd-weight-decay", lambda: optimizers.SGD(0.1, weight_decay=-1e-4), ValueError,
     r"^SGD: weight_decay must be a finite number >= 0"),
    ("adam-lr", lambda: optimizers.Adam(learning_rate=-1e-3), ValueError,
     r"^Adam: learning_rate must be a finite number >= 0, got -0\.001\."),
    ("adam-beta-1", lambda: optimizers.Adam(beta_1=1.0), ValueError,
     r"^Adam: beta_1 must be in \[0, 1\.0\), got 1\.0\."),
    ("adam-beta-2", lambda: optimizers.Adam(beta_2=-0.1), ValueError, r"^Adam: beta_2 must be in"),
    ("adam-epsilon", lambda: optimizers.Adam(epsilon=-1e-7), ValueError,
     r"^Adam: epsilon must be a finite number >= 0"),
    ("rmsprop-lr", lambda: optimizers.RMSprop(-1.0), ValueError,
     r"^RMSprop: learning_rate must be"),
    ("rmsprop-rho", lambda: optimizers.RMSprop(rho=1.5), ValueError, r"^RMSprop: rho must be in"),
    ("rmsprop-momentum", lambda: optimizers.RMSprop(momentum=1), ValueError,
     r"^RMSprop: momentum must be in"),
    ("exponential-decay-lr", lambda: schedules.ExponentialDecay(-0.1, 10, 0.9), ValueError,
     r"^ExponentialDecay: initial_learning_rate must be a finite number >= 0"),
    ("exponential-decay-steps", lambda: schedules.ExponentialDecay(0.1, 0, 0.9), ValueError,
     r"^ExponentialDecay: decay_steps must be a positive int, got 0\."),
    ("inverse-time-decay-rate", lambda: schedules.InverseTimeDecay(0.1, 10, -1.0), ValueError,
     r"^InverseTimeDecay: decay_rate must be a finite number >= 0"),
    ("cosine-decay-steps", lambda: schedules.CosineDecay(0.1, -5), ValueError,
     r"^CosineDecay: decay_steps must be a positive int"),
    ("piecewise-lengths", lambda: schedules.PiecewiseConstantDecay([10], [0.1]), ValueError,
     r"^PiecewiseConstantDecay: values must have exactly one more entry than boundaries"),
    ("piecewise-order", lambda: schedules.PiecewiseConstantDecay([10, 5], [1, 2, 3]), ValueError,
     r"^PiecewiseConstantDecay: boundaries must increase"),
    ("piecewise-value", lambda: schedules.PiecewiseConstantDecay([10], [0.1, -1]), ValueError,
     r"^PiecewiseConstantDecay: values\[1\] must be a finite number >= 0, got -1\.0\."),
    ("piecewise-type", lambda: schedules.PiecewiseConstantDecay([10], ["fast", 0.1]), TypeError,
     r"^PiecewiseConstantDecay: values\[0\] must be a number, got str"),
    ("variance-scaling-mode", lambda: initializers.VarianceScaling(mode="fan_sum"), ValueError,
     r"^VarianceScaling: unknown mode 'fan_sum'\. Expected one of: 'fan_in', 'fan_out', "
     r"'fan_avg'\."),
    ("variance-scaling-distribution",
     lambda: initializers.VarianceScaling(distribution="cauchy"), ValueError,
     r"^VarianceScaling: unknown distribution 'cauchy'\. Expected one of: 'truncated_normal'"),
    ("variance-scaling-scale", lambda: initializers.VarianceScaling(scale=0), ValueError,
     r"^VarianceScaling: scale must be a positive number"),
    ("random-normal-stddev", lambda: initializers.RandomNormal(stddev=-1), ValueError,
     r"^RandomNormal: stddev must be a finite number >= 0, got -1\.0\."),
    ("random-uniform-bounds", lambda: initializers.RandomUniform(1.0, -1.0), ValueError,
     r"^RandomUniform: minval must be <= maxval"),
    ("truncated-normal-stddev", lambda: initializers.TruncatedNormal(stddev=float("nan")),
     ValueError, r"^TruncatedNormal: stddev must be a finite number >= 0, got nan\."),
    ("constant-value", lambda: initializers.Constant(float("inf")), ValueError,
     r"^Constant: value must be finite, got inf\."),
    ("l2-strength", lambda: regularizers.L2(-0.1), ValueError,
     r"^L2: l2 must be a finite number >= 0, got -0\.1\."),
    ("early-stopping-mode", lambda: callbacks.EarlyStopping(mode="up"), ValueError,
     r"^EarlyStopping: mode must be 'auto', 'min' or 'max', got 'up'\."),
    ("checkpoint-monitor", lambda: ModelCheckpoint("m.npz", monitor=3), TypeError,
     r"^ModelCheckpoint: monitor must be the name of a logged quantity, got int 3\."),
    ("reduce-lr-factor", lambda: callbacks.ReduceLROnPlateau(factor=1.5), ValueError,
     r"^ReduceLROnPlateau: factor must be in \(0, 1\), got 1\.5\."),
]


@pytest.mark.parametrize("schedule, error, pattern", [
    (lambda epoch, lr: -0.1, ValueError,
     r"^LearningRateScheduler: learning_rate must be a finite number >= 0, got -0\.1\."),
    (lambda epoch, lr: float("nan"), ValueError,
     r"^LearningRateScheduler: learning_rate must be a finite number >= 0, got nan\."),
    (lambda epoch, lr: "fast", TypeError,
     r"^LearningRateScheduler: schedule\(epoch, lr\) must return a number, got str 'fast'"),
], ids=["negative", "nan", "string"])
def test_a_callback_cannot_set_a_bad_learning_rate(schedule, error, pattern):
    model = make_model("mse", "trained", optimizer=optimizers.SGD(0.01))
    before = state_of(model)
    with pytest.raises(error, match=pattern):
        model.fit(X, TARGETS["mse"], epochs=2, verbose=0,
                  callbacks=[LearningRateScheduler(schedule)])
    assert_same_state(model, before)


@pytest.mark.parametrize("case_id, build, error, pattern", CONSTRUCTOR_CASES,
                         ids=[case[0] for case in CONSTRUCTOR_CASES])
def test_constructors_refuse_bad_arguments(case_id, build, error, pattern):
    with pytest.raises(error, match=pattern):
        build()


@pytest.mark.parametrize("dtype, expected", [
    ("float32", np.float32), ("FLOAT64", np.float64), ("f4", np.float32), ("f8", np.float64),
    (np.float32, np.float32), (np.float64, np.float64), (np.dtype("float32"), np.float32),
    (np.dtype("<f8"), np.float64), (float, np.float64), (None, np.float32),
])
def test_sequential_accepts_numpy_dtype_spellings(dtype, expected):
    model = Sequential([Dense(2, input_dim=3)], dtype=dtype, seed=0)
    assert model.dtype == np.dtype(expected)
    model.build()
    assert model.params.dtype == np.dtype(expected)


def test_unknown_name_messages_list_every_valid_name():
    from fastnn.registries import ACTIVATIONS, LOSSES
    cases = [(lambda: Dense(2, activation="swish"), ACTIVATIONS),
             (lambda: Dense(2, kernel_initializer="swish"), initializers.INITIALIZERS),
             (lambda: Sequential([Dense(2, input_dim=2)]).compile(optimizer="swish", loss="mse"),
              optimizers.OPTIMIZERS),
             (lambda: Sequential([Dense(2, input_dim=2)]).compile(loss="swish"), LOSSES)]
    for call, names in cases:
        with pytest.raises(ValueError, match="'swish'") as info:
            call()
        listed = re.findall(r"'(\w+)'", str(info.value).split("Expected one of:")[1])
        assert listed == list(names)
