"""Robustness: property-based tests (hypothesis) over random architectures, dtypes,
batch sizes (1, and larger than the data) and input shapes; flat memory over many
epochs; predict from several threads at once.

Every example is small, so the whole module stays well under a minute.
"""
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from builders import assert_same_state, state_of
from fastnn import Dense, Sequential, reference
from fastnn.callbacks import LambdaCallback
from fastnn.optimizers import SGD, Adam, RMSprop

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
HEADS = {  # loss -> possible (activation) and unit counts of the output layer
    "mse": (["linear", "tanh", "sigmoid"], (1, 4)),
    "sse": (["linear", "tanh"], (1, 3)),
    "binary_crossentropy": (["sigmoid"], (1, 3)),
    "categorical_crossentropy": (["softmax"], (2, 5)),
    "sparse_categorical_crossentropy": (["softmax"], (2, 5)),
}
OPTIMIZERS = {
    "sgd": lambda: SGD(0.05),
    "momentum": lambda: SGD(0.02, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: Adam(0.01),
    "rmsprop": lambda: RMSprop(0.005, momentum=0.5),
}
TOLERANCE = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-9, atol=1e-11)}


@st.composite
def specs(draw):
    """A random network, data set and training configuration."""
    loss = draw(st.sampled_from(sorted(HEADS)))
    activations, (low, high) = HEADS[loss]
    n = draw(st.integers(1, 24))
    return {
        "dtype": draw(st.sampled_from(["float32", "float64"])),
        "sample_shape": draw(st.sampled_from([(1,), (3,), (5,), (2, 2), (3, 1, 2)])),
        "n": n,
        "hidden": draw(st.lists(st.tuples(st.integers(1, 7), st.sampled_from(HIDDEN),
                                          st.booleans()), max_size=3)),
        "head": (draw(st.integers(low, high)), draw(st.sampled_from(activations))),
        "loss": loss,
        "batch_size": draw(st.one_of(st.just(1), st.just(n), st.integers(n + 1, n + 9),
                                     st.integers(1, max(1, n)))),
        "optimizer": draw(st.sampled_from(sorted(OPTIMIZERS))),
        "shuffle": draw(st.booleans()),
        "declare_width": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build(spec):
    width = int(np.prod(spec["sample_shape"]))
    layers = [Dense(units, activation=act, use_bias=bias,
                    input_dim=width if (i == 0 and spec["declare_width"]) else None)
              for i, (units, act, bias) in enumerate(spec["hidden"])]
    units, activation = spec["head"]
    layers.append(Dense(units, activation=activation,
                        input_dim=width if (not layers and spec["declare_width"]) else None))
    model = Sequential(layers, dtype=spec["dtype"], seed=spec["seed"] % 1000)
    model.compile(optimizer=OPTIMIZERS[spec["optimizer"]](), loss=spec["loss"],
                  metrics=["accuracy", "mae"])
    return model


def data(spec):
    rng = np.random.default_rng(spec["seed"])
    x = rng.normal(size=(spec["n"], *spec["sample_shape"]))
    units = spec["head"][0]
    loss = spec["loss"]
    if loss in ("mse", "sse"):
        y = rng.normal(size=(spec["n"], units)) * 0.5
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(spec["n"], units)).astype(np.float64)
    else:
        labels = rng.integers(0, units, size=spec["n"])
        y = labels if loss == "sparse_categorical_crossentropy" else np.eye(units)[labels]
    return x, y


def fit(model, spec, x, y, epochs=2):
    return model.fit(x, y, epochs=epochs, batch_size=spec["batch_size"],
                     shuffle=spec["shuffle"], verbose=0)


@SETTINGS
@given(specs())
def test_training_keeps_shapes_dtypes_and_finiteness(spec):
    model = build(spec)
    x, y = data(spec)
    history = fit(model, spec, x, y)
    assert history.epoch == [0, 1]
    assert all(len(values) == 2 and np.isfinite(values).all()
               for values in history.history.values())
    assert model.params.dtype == np.dtype(spec["dtype"])
    assert np.isfinite(model.params).all() and np.isfinite(model._state).all()
    assert model.optimizer.iterations == 2 * -(-spec["n"] // spec["batch_size"])

    width = int(np.prod(spec["sample_shape"]))
    sizes = [width] + [units for units, _, _ in spec["hidden"]] + [spec["head"][0]]
    biases = [bias for _, _, bias in spec["hidden"]] + [True]
    expected_shapes = []
    for i, bias in enumerate(biases):
        expected_shapes.append((sizes[i], sizes[i + 1]))
        if bias:
            expected_shapes.append((sizes[i + 1],))
    assert [w.shape for w in model.get_weights()] == expected_shapes

    out = model.predict(x)
    assert out.shape == (spec["n"], spec["head"][0]) and out.dtype == np.dtype(spec["dtype"])
    assert np.isfinite(out).all()
    if spec["head"][1] == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    if spec["head"][1] == "sigmoid":
        assert ((out >= 0) & (out <= 1)).all()
    logs = model.evaluate(x, y, batch_size=spec["batch_size"])
    assert set(logs) == {"loss", "accuracy", "mae"} and np.isfinite(list(logs.values())).all()


@SETTINGS
@given(specs(), st.integers(1, 40))
def test_predict_matches_the_numpy_reference_at_any_batch_size(spec, batch_size):
    model = build(spec)
    x, y = data(spec)
    fit(model, spec, x, y, epochs=1)
    weights = model.get_weights()
    kernels, biases, i = [], [], 0
    for _, _, bias in spec["hidden"] + [(None, None, True)]:
        kernels.append(weights[i])
        biases.append(weights[i + 1] if bias else None)
        i += 2 if bias else 1
    activations = [act for _, act, _ in spec["hidden"]] + [spec["head"][1]]
    flat = x.reshape(spec["n"], -1).astype(spec["dtype"]).astype(np.float64)
    expected = reference.forward([w.astype(np.float64) for w in kernels],
                                 [None if b is None else b.astype(np.float64) for b in biases],
                                 activations, flat)[-1]
    np.testing.assert_allclose(model.predict(x), expected, **TOLERANCE[spec["dtype"]])
    np.testing.assert_allclose(model.predict(x, batch_size=batch_size), model.predict(x),
                               **TOLERANCE[spec["dtype"]])


@SETTINGS
@given(specs())
def test_the_same_seed_gives_bitwise_the_same_run(spec):
    x, y = data(spec)
    first, second = build(spec), build(spec)
    history_1, history_2 = fit(first, spec, x, y).history, fit(second, spec, x, y).history
    assert first.params.tobytes() == second.params.tobytes()
    assert first._state.tobytes() == second._state.tobytes()
    assert history_1 == history_2


@SETTINGS
@given(specs())
def test_a_batch_larger_than_the_data_is_one_full_batch(spec):
    x, y = data(spec)
    whole = dict(spec, batch_size=spec["n"])
    larger = dict(spec, batch_size=spec["n"] + 7)
    a, b = build(whole), build(larger)
    fit(a, whole, x, y)
    fit(b, larger, x, y)
    assert a.optimizer.iterations == b.optimizer.iterations == 2
    np.testing.assert_allclose(a.params, b.params, **TOLERANCE[spec["dtype"]])


@SETTINGS
@given(spec=specs())
def test_save_load_and_weights_round_trip_bitwise(tmp_path_factory, spec):
    model = build(spec)
    x, y = data(spec)
    fit(model, spec, x, y, epochs=1)
    path = tmp_path_factory.mktemp("roundtrip") / "model.npz"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert loaded.params.tobytes() == model.params.tobytes()
    assert loaded._state.tobytes() == model._state.tobytes()
    assert loaded.predict(x).tobytes() == model.predict(x).tobytes()
    # ... and both continue identically.
    for resumed in (model, loaded):
        resumed.fit(x, y, epochs=3, initial_epoch=1, batch_size=spec["batch_size"],
                    shuffle=spec["shuffle"], verbose=0)
    assert loaded._rng.bit_generator.state == model._rng.bit_generator.state
    assert loaded.params.tobytes() == model.params.tobytes()
    before = model.params.copy()
    model.set_weights(model.get_weights())
    assert model.params.tobytes() == before.tobytes()


@st.composite
def corruptions(draw, spec):
    """(description, x, y) that fit/evaluate must refuse, for this spec's data."""
    x, y = data(spec)
    x, y = x.copy(), np.array(y, dtype=np.float64)
    kinds = ["x-nan", "x-inf", "y-nan", "length", "features"]
    if spec["loss"] == "sparse_categorical_crossentropy":
        kinds += ["label-high", "label-negative", "label-fraction"]
    if spec["loss"] in ("binary_crossentropy", "categorical_crossentropy"):
        kinds += ["target-range"]
    kind = draw(st.sampled_from(kinds))
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    i = draw(st.integers(0, flat_x.size - 1))
    j = draw(st.integers(0, flat_y.size - 1))
    if kind == "x-nan":
        flat_x[i] = np.nan
    elif kind == "x-inf":
        flat_x[i] = draw(st.sampled_from([np.inf, -np.inf]))
    elif kind == "y-nan":
        flat_y[j] = np.nan
    elif kind == "length":
        y = np.concatenate([y, y[:1]])
    elif kind == "features":
        x = np.concatenate([x.reshape(spec["n"], -1), np.zeros((spec["n"], 1))], axis=1)
    elif kind == "label-high":
        flat_y[j] = spec["head"][0] + draw(st.integers(0, 3))
    elif kind == "label-negative":
        flat_y[j] = -draw(st.integers(1, 3))
    elif kind == "label-fraction":
        flat_y[j] += 0.5
    else:
        flat_y[j] = draw(st.sampled_from([-0.5, 1.5, 7.0]))
    return kind, x, y


@SETTINGS
@given(st.data())
def test_refused_inputs_never_change_state(draws):
    spec = draws.draw(specs())
    spec["declare_width"] = True  # so a wrong width is wrong before the first fit too
    model = build(spec)
    if draws.draw(st.booleans()):
        fit(model, spec, *data(spec), epochs=1)
    kind, x, y = draws.draw(corruptions(spec))
    before = state_of(model)
    for call in (lambda: model.fit(x, y, epochs=1, batch_size=spec["batch_size"], verbose=0),
                 lambda: model.evaluate(x, y)):
        with pytest.raises(ValueError, match=r"^(fit|evaluate): (x|y) "):
            call()
        assert_same_state(model, before)
    if kind.startswith("x") or kind == "features":
        with pytest.raises(ValueError, match=r"^predict: x "):
            model.predict(x)
        assert_same_state(model, before)


# ------------------------------------------------------- memory and threads
def test_memory_stays_flat_over_50_epochs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=512)
    model = Sequential([Dense(64, activation="relu", input_dim=32), Dense(32, activation="tanh"),
                        Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)  # compile and allocate once
    used = {}

    def measure(epoch, logs=None):
        used[epoch] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        model.fit(x, y, epochs=50, batch_size=32, validation_split=0.1, verbose=0,
                  callbacks=[LambdaCallback(on_epoch_end=measure)])
    finally:
        tracemalloc.stop()
    growth = used[49] - used[9]
    # 40 epochs of History floats are a few KB; a leaked batch or workspace is far more.
    assert growth < 32 * 1024, f"memory grew by {growth} bytes over 40 epochs"
    per_epoch = np.diff([used[e] for e in range(10, 50)])
    assert np.median(per_epoch) < 1024


def test_concurrent_predict_matches_serial():
    rng = np.random.default_rng(1)
    model = Sequential([Dense(48, activation="tanh", input_dim=12), Dense(24, activation="relu"),
                        Dense(5, activation="softmax")], seed=3, dtype="float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(rng.normal(size=(200, 12)), rng.integers(0, 5, 200), epochs=2, verbose=0)
    jobs = [(rng.normal(size=(int(n), 12)), batch)
            for n, batch in zip(rng.integers(1, 3000, size=24),
                                [None, 1, 7, 64, 500, 4096] * 4)]
    serial = [model.predict(x, batch_size=batch) for x, batch in jobs]
    params = model.params.copy()
    barrier = threading.Barrier(8)

    def run(index):
        if index < 8:
            barrier.wait()  # start the first wave together
        x, batch = jobs[index % len(jobs)]
        return index % len(jobs), model.predict(x, batch_size=batch)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(3 * len(jobs))))
    for index, out in results:
        assert out.tobytes() == serial[index].tobytes()
    assert model.params.tobytes() == params.tobytes()
