"""Kernels against the NumPy reference and against finite differences."""
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
import subprocess
import sys

import numpy as np
import pytest

from fastnn import Dense, Sequential, reference
from fastnn.optimizers import SGD, Adam
from fastnn.regularizers import L2
from fastnn.kernels import codes
from fastnn.kernels import network as kn
from fastnn.kernels.layout import data_arrays, train_buffers
from fastnn.kernels import optimizers as ko
from fastnn.kernels.activations import activation_backward, bias_activation
from fastnn.kernels.checks import all_finite
from fastnn._validation import _all_finite
from fastnn.registries import ACTIVATIONS, LOSSES

from builders import loss_and_gradients

ACTIVATION_NAMES = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
LOSS_NAMES = ["mse", "sse", "binary_crossentropy", "categorical_crossentropy",
              "sparse_categorical_crossentropy"]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def make_model(sizes, activations, dtype=np.float64, seed=0, use_bias=True, l2=None):
    layers = [Dense(units, activation=act, use_bias=use_bias,
                    input_dim=sizes[0] if i == 0 else None,
                    kernel_initializer="glorot_normal", bias_initializer="random_normal",
                    kernel_regularizer=l2)
              for i, (units, act) in enumerate(zip(sizes[1:], activations))]
    model = Sequential(layers, dtype=np.dtype(dtype).name, seed=seed)
    model.build()
    return model


def targets(loss, n, units, rng):
    """(y for the reference (n, units), labels (n,) or empty, y_dense for kernels)."""
    if loss == "sparse_categorical_crossentropy":
        labels = rng.integers(0, units, n)
        return np.eye(units)[labels], labels.astype(np.int64), np.zeros((0, units))
    if loss == "categorical_crossentropy":
        y = rng.random((n, units))
        y /= y.sum(axis=1, keepdims=True)
        return y, np.zeros(0, np.int64), y
    if loss == "binary_crossentropy":
        y = rng.random((n, units))
        return y, np.zeros(0, np.int64), y
    y = rng.standard_normal((n, units))
    return y, np.zeros(0, np.int64), y


def kernel_gradients(model, x, y_dense, labels, weights, loss):
    acts = np.empty(x.shape[0] * int(model._net[0].sum()), model.dtype)
    deltas = np.empty_like(acts)
    grads = np.empty_like(model.params)
    data = (x.astype(model.dtype), y_dense.astype(model.dtype), labels, weights.astype(model.dtype))
    n = x.shape[0]
    total, out = loss_and_gradients(grads, model._net, model.params, acts, deltas, data,
                                    np.arange(n), 0, n, LOSSES[loss], n, 0, True,
                                    model._dropout_spec(), 0)
    return total, out.copy(), grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_activation_forward_and_backward_match_reference(activation, dtype):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((7, 5)).astype(dtype) * 3
    b = rng.standard_normal(5).astype(dtype)
    a = z.copy()
    bias_activation(a, b, ACTIVATIONS[activation])
    expected = reference.activate(z.astype(np.float64) + b, activation)
    np.testing.assert_allclose(a, expected, **TOL[dtype])
    d = rng.standard_normal((7, 5)).astype(dtype)
    out = d.copy()
    activation_backward(out, a, ACTIVATIONS[activation])
    np.testing.assert_allclose(out, reference.activation_backward(d.astype(np.float64),
                                                                  a.astype(np.float64), activation),
                               **TOL[dtype])


def test_sigmoid_and_softmax_never_overflow():
    z = np.array([[-1000.0, 0.0, 1000.0]])
    a = z.copy()
    bias_activation(a, np.zeros(0), codes.SIGMOID)
    np.testing.assert_array_equal(a, [[0.0, 0.5, 1.0]])
    a = z.copy()
    bias_activation(a, np.zeros(0), codes.SOFTMAX)
    np.testing.assert_array_equal(a, [[0.0, 0.0, 1.0]])


CASES = list(itertools.product(ACTIVATION_NAMES, LOSS_NAMES))


@pytest.mark.parametrize("output_activation,loss", CASES)
def test_gradients_match_finite_differences(output_activation, loss):
    """Every output activation x loss, through random hidden layers, float64."""
    rng = np.random.default_rng(abs(hash((output_activation, loss))) % 2**32)
    depth = rng.integers(1, 4)
    sizes = [int(rng.integers(2, 6)) for _ in range(depth)] + [int(rng.integers(2, 5))]
    sizes = [int(rng.integers(2, 6))] + sizes[1:]
    hidden = list(rng.choice(["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "linear"],
                             len(sizes) - 2))
    if output_activation in ("sigmoid", "softmax") or not loss.endswith("crossentropy"):
        out_act = output_activation
    else:
        out_act = "sigmoid"  # cross-entropy needs probabilities in (0, 1)
    model = make_model(sizes, hidden + [out_act], l2=L2(0.01))
    n = 6
    x = rng.standard_normal((n, sizes[0]))
    y, labels, y_dense = targets(loss, n, sizes[-1], rng)
    weights = rng.random(n) + 0.5
    _, _, grads = kernel_gradients(model, x, y_dense, labels, weights, loss)

    def objective(params):
        ws = model._views(params)
        outputs = reference.forward([w.T for w, _ in ws], [b for _, b in ws],
                                    hidden + [out_act], x)
        data = (weights * reference.sample_losses(outputs[-1], y, loss)).sum()
        data = data if loss == "sse" else data / n
        return data + 0.01 * sum((w * w).sum() for w, _ in ws)

    numeric = np.empty_like(model.params)
    step = 1e-6
    for i in range(model.params.size):
        plus, minus = model.params.copy(), model.params.copy()
        plus[i] += step
        minus[i] -= step
        numeric[i] = (objective(plus) - objective(minus)) / (2 * step)
    for layer, ((gw, gb), (nw, nb)) in enumerate(zip(model._views(grads), model._views(numeric))):
        np.testing.assert_allclose(gw, nw, rtol=1e-5, atol=1e-7, err_msg=f"dW of layer {layer}")
        np.testing.assert_allclose(gb, nb, rtol=1e-5, atol=1e-7, err_msg=f"db of layer {layer}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_loss_and_gradients_match_reference(loss, dtype):
    rng = np.random.default_rng(3)
    out_act = {"binary_crossentropy": "sigmoid", "mse": "linear", "sse": "tanh"}.get(loss,
                                                                                     "softmax")
    sizes, acts = [5, 4, 3], ["relu", out_act]
    model = make_model(sizes, acts, dtype)
    x = rng.standard_normal((8, 5))
    y, labels, y_dense = targets(loss, 8, 3, rng)
    weights = rng.random(8)
    total, out, grads = kernel_gradients(model, x, y_dense, labels, weights, loss)
    ws = [(w.T.astype(np.float64), b.astype(np.float64)) for w, b in model._views(model.params)]
    outputs = reference.forward([w for w, _ in ws], [b for _, b in ws], acts, x)
    np.testing.assert_allclose(out, outputs[-1], **TOL[dtype])
    losses = reference.sample_losses(outputs[-1], y, loss)
    np.testing.assert_allclose(total, (weights * losses).sum(), rtol=TOL[dtype]["rtol"] * 10)
    delta = reference.output_delta(outputs[-1], y, loss, out_act, weights)
    gw, gb = reference.backward([w for w, _ in ws], outputs, delta, acts)
    for layer, (kw, kb) in enumerate(model._views(grads)):
        np.testing.assert_allclose(kw.T, gw[layer], rtol=TOL[dtype]["rtol"] * 10,
                                   atol=1e-6 if dtype == np.float32 else 1e-13)
        np.testing.assert_allclose(kb, gb[layer], rtol=TOL[dtype]["rtol"] * 10,
                                   atol=1e-6 if dtype == np.float32 else 1e-13)


def test_sgd_step_closed_form():
    w = np.array([1.0, -2.0]); g = np.array([0.5, 0.25]); v = np.array([0.1, 0.0])
    ko.sgd_update(w, g, v, 0.1, 0.9, 0.0, False)
    np.testing.assert_allclose(v, [0.9 * 0.1 - 0.05, -0.025])
    np.testing.assert_allclose(w, [1.0 + 0.04, -2.0 - 0.025])
    w = np.array([1.0]); v = np.array([0.1])
    ko.sgd_update(w, np.array([0.5]), v, 0.1, 0.9, 0.0, True)
    np.testing.assert_allclose(w, [1.0 + 0.9 * 0.04 - 0.05])  # Keras/PyTorch Nesterov
    w = np.array([2.0])
    ko.sgd_update(w, np.array([0.0]), np.zeros(1), 0.1, 0.0, 0.5, False)
    np.testing.assert_allclose(w, [2.0 - 0.1 * 0.5 * 2.0])  # decoupled weight decay


def test_adam_golden_trajectory():
    """Three Keras 3 Adam steps from w=1 with g = w (minimizing w^2/2), by hand."""
    w, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    expected = 1.0
    em = ev = 0.0
    for t in (1, 2, 3):
        g = w.copy()
        step = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        ko.adam_update(w, g, m, v, step, b1, b2, eps, lr, 0.0)
        em, ev = b1 * em + (1 - b1) * expected, b2 * ev + (1 - b2) * expected ** 2
        expected -= step * em / (np.sqrt(ev) + eps)
        assert w[0] == pytest.approx(expected, rel=1e-14)
        if t == 1:  # the first Adam step moves a weight by ~lr, whatever the gradient's scale
            assert 1.0 - w[0] == pytest.approx(lr, rel=1e-5)


def test_rmsprop_step_closed_form():
    w, s, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    ko.rmsprop_update(w, np.array([2.0]), s, v, 0.01, 0.9, 0.0, 1e-7, 0.0)
    np.testing.assert_allclose(s, [0.1 * 4.0])
    np.testing.assert_allclose(w, [1.0 - 0.01 * 2.0 / np.sqrt(0.4 + 1e-7)])


def test_optimizer_slots_never_hold_denormals():
    """Zero gradients decay Adam's moments and momentum toward 0; they must flush, not
    linger as float32 denormals (x86 computes those ~100x slower)."""
    tiny = np.finfo(np.float32).tiny
    w = np.ones(4, np.float32); g = np.zeros(4, np.float32)
    m = np.full(4, 1e-30, np.float32); v = np.full(4, 1e-30, np.float32)
    for _ in range(200):
        ko.adam_update(w, g, m, v, np.float32(1e-3), np.float32(0.9), np.float32(0.999),
                       np.float32(1e-7), np.float32(1e-3), np.float32(0))
    assert ((m == 0) | (np.abs(m) >= tiny)).all() and ((v == 0) | (np.abs(v) >= tiny)).all()
    velocity = np.full(4, 1e-30, np.float32)
    for _ in range(200):
        ko.sgd_update(w, g, velocity, np.float32(0.01), np.float32(0.9), np.float32(0), False)
    assert (velocity == 0).all()


NO_ALLOCATION_SCRIPT = """
import numpy as np
from fastnn import Dense, Sequential
from fastnn.kernels import network as kn, optimizers as ko
model = Sequential([Dense(3, activation="relu", input_dim=4), Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(np.ones((8, 4)), np.zeros(8), batch_size=4, epochs=1, verbose=0)
model.predict(np.ones((3, 4)))
for function in (kn.train_epochs, kn.predict, ko._apply_update):
    for signature in function.signatures:
        if "NRT_MemInfo_alloc" in function.inspect_llvm(signature):
            print("ALLOCATES", function.__name__)
print("checked")
"""


def test_kernels_do_not_allocate_in_the_epoch_loop(tmp_path):
    """The fused epoch and predict allocate nothing: no NRT allocation in their LLVM IR
    (callees are inlined into it). A fresh cache dir: cached code cannot be inspected."""
    result = subprocess.run([sys.executable, "-c", NO_ALLOCATION_SCRIPT], capture_output=True,
                            text=True, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)},
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert "checked" in result.stdout and "ALLOCATES" not in result.stdout, result.stdout


ENTRY_POINT_SCRIPT = """
import numpy as np
from fastnn import Dense, Sequential
from fastnn.kernels import optimizers as ko
if {fit}:
    model = Sequential([Dense(3, activation="relu", input_dim=4), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(np.ones((8, 4)), np.zeros(8), batch_size=4, epochs=1, verbose=0)
    print("fit compiled", len(ko._sgd_update.signatures), len(ko.sgd_update.signatures))
w, v = np.array([1.0]), np.array([0.1])
ko.sgd_update(w, np.array([0.5]), v, 0.1, 0.9, 0.0, False)
print("step", round(w[0], 12), round(v[0], 12))
"""


def test_fit_compiles_no_python_entry_point_and_the_twins_cache_apart(tmp_path):
    """fit compiles the kernels it calls without their Python entry points; each public
    twin (``_jit.python_entry``) compiles on its first Python call, and in a new process
    does not load its internal kernel's cached code (Numba's cache key ignores jit
    options: calling that from Python would crash the interpreter)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    outputs = []
    for fit in (True, False):
        result = subprocess.run([sys.executable, "-c", ENTRY_POINT_SCRIPT.format(fit=fit)],
                                capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "fit compiled 1 0" in outputs[0]  # the internal kernel only
    assert all("step 1.04 0.04" in out for out in outputs), outputs


def test_one_compilation_per_dtype_serves_every_architecture():
    """Of the networks whose first layer splits by units (its units <= inputs; the
    others compile the split by rows alone, once). (Models with dropout compile apart:
    other tests in this process may have.)"""
    already = {f.__name__: len(f.signatures) for f in (kn.train_epochs, kn.predict)}
    before = {}
    x = np.random.default_rng(0).random((20, 6))
    for sizes, acts in (([6, 5, 2], ["relu", "softmax"]),
                        ([6, 6, 7, 3, 2], ["tanh", "sigmoid", "relu", "softmax"])):
        for dtype in ("float32", "float64"):
            model = Sequential([Dense(u, activation=a) for u, a in zip(sizes[1:], acts)],
                               dtype=dtype, seed=1)
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            model.fit(x, np.arange(20) % 2, epochs=1, verbose=0)
            model.predict(x)
        count = {f.__name__: len(f.signatures) for f in (kn.train_epochs, kn.predict)}
        if before:
            assert count == before, "a new architecture triggered a recompilation"
        before = count
    assert all(before[name] - already[name] <= 2 for name in before), (already, before)


def test_kernels_flush_denormals_inside_and_restore_the_mode_after():
    from numba import njit
    from fastnn.kernels.fpmode import flush_denormals, restore_mode

    @njit
    def product_inside(x):
        mode = flush_denormals()
        y = x[0] * x[1]
        restore_mode(mode)
        return y

    tiny = np.array([1e-20, 1e-20], np.float32)
    assert product_inside(tiny) == 0.0  # flushed while the kernel runs
    model = make_model([3, 2], ["softmax"], np.float32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.ones((4, 3)), np.zeros(4), epochs=1, verbose=0)
    assert tiny[0] * tiny[1] > 0  # NumPy after a fit still computes denormals


# --------------------------------------------------------- splitting a batch in parts
SPLIT_CASES = {
    # name: (sizes, activations, use_bias, l2 strength)
    "three layers, L2": ((9, 8, 6, 4), ("relu", "tanh", "softmax"), True, 0.01),
    "odd first layer, no bias": ((5, 3, 2), ("sigmoid", "softmax"), False, 0.0),
    "one-unit first layer": ((4, 1, 3), ("tanh", "softmax"), True, 0.02),
    "one layer (nothing to split by units)": ((4, 3), ("softmax",), True, 0.0),
    "softmax first layer (needs all its units)": ((6, 5, 3), ("softmax", "softmax"), True,
                                                  0.0),
    "odd widths": ((17, 7, 5, 3), ("relu", "relu", "softmax"), True, 0.0),
    "first layer wider than its input": ((3, 8, 2), ("relu", "softmax"), True, 0.0),
}


def run_train_epoch(model, x, labels, batch_size, unit_rows, workers, optimizer, parts=2):
    """kn.train_epochs over one epoch, each batch in ``parts`` parts, with a team of
    ``workers`` threads, split by units with ``unit_rows`` rows a product where the
    network allows (``kn.split_by_units``; 0: by rows); returns (summed totals,
    params, optimizer state)."""
    dtype = model.dtype
    n = x.shape[0]
    params = model.params.copy()
    sizes = model._net[0]
    workspace = min(batch_size, n) * int(sizes.sum())
    buffers = train_buffers(params, np.zeros((parts, params.size), dtype),
                            np.zeros((2, params.size), dtype), np.zeros(workspace, dtype),
                            np.zeros(workspace, dtype))
    data = data_arrays(x.astype(dtype), np.zeros((0, sizes[-1]), dtype), labels,
                       np.linspace(0.5, 1.5, n).astype(dtype))
    orders = np.random.default_rng(5).permutation(n)[np.newaxis]
    n_batches = -(-n // batch_size)
    totals = np.zeros((1, parts, codes.N_TOTALS))
    saved = (np.empty_like(params), np.empty_like(buffers[2]))
    sync = np.zeros(2, np.int64)
    run_codes = (LOSSES["sparse_categorical_crossentropy"], codes.SPARSE_ACCURACY, False)
    args = (totals, model._net, buffers, saved, data, orders, batch_size,
            kn.split_by_units(unit_rows, model._net), run_codes,
            (optimizer.code, optimizer.hyper(dtype), optimizer.rates(n_batches, dtype),
             ko.update_paths(optimizer.code, optimizer.hyper(dtype))),
            (model._dropout_spec(), np.int64(0)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        helpers = [pool.submit(kn.train_epochs, (w, workers, sync), *args)
                   for w in range(1, workers)]
        kn.train_epochs((0, workers, sync), *args)
        for helper in helpers:
            helper.result()
    return totals[0].sum(axis=0), params, buffers[2]


@pytest.mark.parametrize("case", list(SPLIT_CASES))
@pytest.mark.parametrize("batch_size", [1, 7, 29])
def test_both_splits_agree_and_ignore_the_team_size(case, batch_size):
    """Split by rows, by first-layer units, or by units with that layer's products
    cut into 4-row blocks, into 4 parts; a team of 1 to 4 threads (more threads than
    these 2 cores): the team's size changes nothing (bitwise), the split only the
    rounding."""
    sizes, activations, use_bias, strength = SPLIT_CASES[case]
    model = make_model(sizes, activations, use_bias=use_bias,
                       l2=L2(strength) if strength else None)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((29, sizes[0]))
    labels = rng.integers(0, sizes[-1], 29).astype(np.int64)
    splits = {"rows": 0, "units": batch_size, "units, 4-row products": 4}
    runs = {}
    for split, unit_rows in splits.items():
        for workers in (1, 2, 3, 4):
            runs[split, workers] = run_train_epoch(
                model, x, labels, batch_size, unit_rows, workers, Adam(0.01), parts=4)
            for one, other in zip(runs[split, 1], runs[split, workers]):
                np.testing.assert_array_equal(one, other)
        for by_rows, split_so in zip(runs["rows", 1], runs[split, 1]):
            np.testing.assert_allclose(split_so, by_rows, rtol=1e-10, atol=1e-13)
    assert runs["units", 1][0][codes.T_BATCHES] == -(-29 // batch_size)
    assert np.abs(runs["units", 1][1] - model.params).max() > 0  # it trained


PLAIN_SGD = {
    "no momentum, weight decay": dict(weight_decay=0.05),
    "momentum": dict(momentum=0.9),
    "momentum, weight decay": dict(momentum=0.9, weight_decay=0.05),
    "nesterov (generic update)": dict(momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("case", list(PLAIN_SGD))
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_unit_split_sgd_accumulating_into_the_velocity_follows_keras_rule(case, l2):
    """Split by units, plain SGD's layer-0 gradient product accumulates straight into
    the velocity (into W without momentum) unless L2 needs the gradient itself. Over
    several steps, so the velocity carries over, it must give the row split's generic
    update (v = mu*v - lr*g; w = (1 - lr*decay)*w + v) to rounding, and the same
    bits on one thread or two."""
    model = make_model((9, 8, 6, 4), ("relu", "tanh", "softmax"),
                       l2=L2(l2) if l2 else None)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((29, 9))
    labels = rng.integers(0, 4, 29).astype(np.int64)
    for batch_size in (7, 29):
        by_rows = run_train_epoch(model, x, labels, batch_size, 0, 1,
                                    SGD(0.1, **PLAIN_SGD[case]))
        by_units = [run_train_epoch(model, x, labels, batch_size, 4, workers,
                                      SGD(0.1, **PLAIN_SGD[case])) for workers in (1, 2)]
        for one, two in zip(*by_units):
            np.testing.assert_array_equal(one, two)
        for want, got in zip(by_rows, by_units[0]):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
        assert np.abs(by_units[0][1] - model.params).max() > 0  # it trained


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("features", [1, 3, 16, 100])
@pytest.mark.parametrize("rows", [1, 2, 3, 9])
def test_gather_rows_copies_rows_in_sample_order(dtype, features, rows):
    """Prefetching row heads ahead changes nothing: rows shorter than a cache line,
    batches shorter than the prefetch distance, and the last rows (nothing ahead)."""
    x = np.arange(20 * features, dtype=dtype).reshape(20, features)
    order = np.random.default_rng(rows).permutation(20)[:rows]
    out = np.full((rows, features), -1, dtype)
    kn.gather_rows(out, x, order)
    np.testing.assert_array_equal(out, x[order])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 4095, 4096, 10_000, 10_006])
def test_all_finite_finds_one_bad_value_anywhere(dtype, bad, where):
    values = np.full(10_007, np.finfo(dtype).max, dtype)  # huge but finite: v * 0 is 0
    assert all_finite(values)
    values[where] = bad
    assert not all_finite(values)
    assert not all_finite(values[where:where + 1])


@pytest.mark.parametrize("where", [0, (1 << 21) - 1, 1 << 21, (1 << 22) + 2])
def test_the_two_thread_finiteness_check_sees_both_halves(where):
    values = np.ones((1 << 22) + 3, np.float32)
    assert _all_finite(values)
    values[where] = np.nan
    assert not _all_finite(values)


def test_public_kernels_keep_a_python_entry_point():
    """Only private kernels may skip their Python entry point: called from Python,
    one without it would crash the interpreter instead of raising."""
    import importlib
    import numba
    from fastnn.kernels._jit import kernel
    public = []
    for module in ("activations", "blas", "checks", "dense", "fpmode", "losses", "network",
                   "optimizers", "sync"):
        for name, obj in vars(importlib.import_module(f"fastnn.kernels.{module}")).items():
            if isinstance(obj, numba.core.dispatcher.Dispatcher) and not name.startswith("_"):
                public.append(f"{module}.{name}")
                assert not obj.targetoptions.get("no_cpython_wrapper"), public[-1]
    assert numba.config.DISABLE_JIT or "network.train_epochs" in public

    def layer_sum(x):
        return x.sum()

    with pytest.raises(ValueError, match="'layer_sum' must be private"):
        kernel(internal=True)(layer_sum)
