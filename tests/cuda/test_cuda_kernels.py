"""The cuda.jit twins against the CPU kernels, on shapes small enough for the simulator.

Run as ``NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda`` without a GPU (Numba reads the
variable when it is imported, so it must be set outside this module). Inner
dimensions above 16 and not a multiple of 16 exercise the GEMM tile loops.
"""
import numpy as np
import pytest

from fastnn import _cuda

if not _cuda.is_available():
    pytest.skip("no CUDA GPU was found and the CUDA simulator is off "
                "(run with NUMBA_ENABLE_CUDASIM=1)", allow_module_level=True)

from fastnn.kernels import codes
from fastnn.kernels import dense as cpu_dense
from fastnn.kernels import losses as cpu_losses
from fastnn.kernels import network as cpu_network
from fastnn.kernels import optimizers as cpu_optimizers
from fastnn.kernels.activations import bias_activation
from fastnn.kernels.cuda import dense, launch, losses, network, optimizers
from fastnn.kernels.cuda.network import to_device
from fastnn.kernels.layout import data_arrays, train_buffers

cuda = _cuda.cuda

ACTIVATIONS = {"linear": codes.LINEAR, "sigmoid": codes.SIGMOID, "tanh": codes.TANH,
               "relu": codes.RELU, "leaky_relu": codes.LEAKY_RELU, "softmax": codes.SOFTMAX}
LOSSES = {"mse": codes.MSE, "sse": codes.SSE, "binary_crossentropy": codes.BINARY_CROSSENTROPY,
          "categorical_crossentropy": codes.CATEGORICAL_CROSSENTROPY,
          "sparse_categorical_crossentropy": codes.SPARSE_CATEGORICAL_CROSSENTROPY}
ACCURACY = {codes.MSE: codes.BINARY_ACCURACY, codes.SSE: codes.NO_ACCURACY,
            codes.BINARY_CROSSENTROPY: codes.BINARY_ACCURACY,
            codes.CATEGORICAL_CROSSENTROPY: codes.CATEGORICAL_ACCURACY,
            codes.SPARSE_CATEGORICAL_CROSSENTROPY: codes.SPARSE_ACCURACY}
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
DTYPES = [np.float32, np.float64]


def host(array):
    return array.copy_to_host()


def activated(z, code):
    """f(z) by the CPU kernel, a realistic saved activation output."""
    a = np.ascontiguousarray(z)
    bias_activation(a, np.zeros(0, a.dtype), code)
    return a


def targets(loss, n, units, rng, dtype):
    """(y (n, units) or empty, labels (n,) int64 or empty) for a loss code."""
    if loss == codes.SPARSE_CATEGORICAL_CROSSENTROPY:
        return np.zeros((0, units), dtype), rng.integers(0, units, n).astype(np.int64)
    if loss == codes.CATEGORICAL_CROSSENTROPY:
        y = np.eye(units, dtype=dtype)[rng.integers(0, units, n)]
    elif loss == codes.BINARY_CROSSENTROPY:
        y = (rng.random((n, units)) > 0.5).astype(dtype)
    else:
        y = rng.standard_normal((n, units)).astype(dtype)
    return y, np.zeros(0, np.int64)


# --- launch configuration -------------------------------------------------------------

def test_launch_shapes_cover_the_work():
    assert launch.tile_grid(17, 5) == ((1, 2), (16, 16))
    assert launch.line_grid(5) == ((1,), (32,))
    assert launch.line_grid(300) == ((3,), (128,))
    assert launch.flat_grid(1000) == ((4,), (256,))
    assert launch.reduce_grid(5) == ((1,), (32,))
    assert launch.reduce_grid(100) == ((1,), (128,))


def test_quiet_occupancy_warnings_silences_only_the_grid_size_warning():
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _cuda.quiet_occupancy_warnings():
            warnings.warn("Grid size 1 will likely result in GPU under-utilization due to "
                          "low occupancy.")
            warnings.warn("something else")
    assert [str(w.message) for w in caught] == ["something else"]


def test_require_cuda_names_the_caller_and_the_fixes(monkeypatch):
    assert _cuda.require_cuda("compile(device='cuda')") is cuda
    monkeypatch.setattr(_cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"compile\(device='cuda'\): no CUDA GPU was found "
                       r"\(numba.cuda.is_available\(\) is False\) and the CUDA simulator is "
                       r"off; install the 'cuda' extra .* NUMBA_ENABLE_CUDASIM=1"):
        _cuda.require_cuda("compile(device='cuda')")


# --- dense layer passes -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_dense_forward_matches_cpu(activation, dtype):
    rng = np.random.default_rng(0)
    n, inputs, units = 5, 19, 7  # inputs > TILE and not a multiple of it: two tiles
    x = rng.standard_normal((n, inputs)).astype(dtype)
    w = (rng.standard_normal((units, inputs)) * 0.4).astype(dtype)
    b = rng.standard_normal(units).astype(dtype)
    expected = np.empty((n, units), dtype)
    cpu_dense.dense_forward(expected, x, w, b, ACTIVATIONS[activation])
    out = cuda.device_array((n, units), dtype)
    dense.dense_forward(out, *to_device((x, w, b)), ACTIVATIONS[activation])
    np.testing.assert_allclose(host(out), expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_activation", list(ACTIVATIONS))
def test_dense_backward_matches_cpu(x_activation, dtype):
    rng = np.random.default_rng(1)
    n, inputs, units = 6, 7, 5  # one tile each; several tiles: the test below
    dout = rng.standard_normal((n, units)).astype(dtype)
    x = activated(rng.standard_normal((n, inputs)).astype(dtype) * 2, ACTIVATIONS[x_activation])
    w = rng.standard_normal((units, inputs)).astype(dtype)
    dx, dw, db = (np.empty(shape, dtype) for shape in ((n, inputs), (units, inputs), units))
    cpu_dense.dense_backward(dx, dw, db, dout, x, w, ACTIVATIONS[x_activation])
    gdx, gdw, gdb = (cuda.device_array(a.shape, dtype) for a in (dx, dw, db))
    dense.dense_backward(gdx, gdw, gdb, *to_device((dout, x, w)), ACTIVATIONS[x_activation])
    for got, want in ((gdx, dx), (gdw, dw), (gdb, db)):
        np.testing.assert_allclose(host(got), want, **TOL[dtype])


def test_gemms_span_several_blocks_and_tiles():
    """Outputs over 16 rows and columns (4 blocks), reductions over 17 and 18."""
    rng = np.random.default_rng(2)
    n, inputs, units = 17, 18, 17
    x = rng.standard_normal((n, inputs))
    w = rng.standard_normal((units, inputs))
    out = np.empty((n, units))
    cpu_dense.dense_forward(out, x, w, np.zeros(0), codes.LINEAR)
    gout = cuda.device_array((n, units))
    dense.dense_forward(gout, *to_device((x, w, np.zeros(0))), codes.LINEAR)
    np.testing.assert_allclose(host(gout), out, rtol=1e-12, atol=1e-12)
    # backward of a (units=18, inputs=17) layer: dw sums 17 rows, dx sums 18 units
    dout = rng.standard_normal((n, inputs))
    w2 = rng.standard_normal((inputs, units))
    dx, dw = np.empty((n, units)), np.empty((inputs, units))
    cpu_dense.dense_backward(dx, dw, np.zeros(0), dout, out, w2, codes.LINEAR)
    gdx, gdw = cuda.device_array(dx.shape), cuda.device_array(dw.shape)
    dense.dense_backward(gdx, gdw, cuda.device_array(0), *to_device((dout, out, w2)),
                         codes.LINEAR)
    np.testing.assert_allclose(host(gdw), dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gdx), dx, rtol=1e-12, atol=1e-12)


# --- output deltas, losses and metrics ----------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", list(LOSSES))
def test_output_delta_and_metrics_match_cpu(loss, activation, dtype):
    rng = np.random.default_rng(3)
    loss, activation = LOSSES[loss], ACTIVATIONS[activation]
    big_n, n, units, start = 9, 5, 4, 3
    y, labels = targets(loss, big_n, units, rng, dtype)
    weights = rng.uniform(0.5, 1.5, big_n).astype(dtype)
    order = rng.permutation(big_n).astype(np.int64)
    out = activated(rng.standard_normal((n, units)).astype(dtype), activation)
    accuracy = ACCURACY[loss]
    d = np.empty((n, units), dtype)
    total = cpu_losses.output_delta(d, out, y, labels, weights, order[start:start + n],
                                    loss, activation, n)
    expected = np.zeros(codes.N_TOTALS)
    cpu_losses.accumulate_metrics(expected, out, y, labels, weights, order[start:start + n],
                                  accuracy, True)
    expected[codes.T_LOSS] = total
    expected[codes.T_BATCHES] = 1

    gd = cuda.device_array((n, units), dtype)
    stats = cuda.device_array((losses.N_STATS, 8))
    totals, penalties = to_device((np.zeros(codes.N_TOTALS), np.zeros(2)))
    gy, glabels, gweights, gorder, gout = to_device((y, labels, weights, order, out))
    losses.output_delta(gd, stats, gout, (gy, glabels, gweights), gorder, start,
                        (loss, activation, accuracy, True))
    losses.reduce_batch(totals, stats, penalties, n, True)
    np.testing.assert_allclose(host(gd), d, **TOL[dtype])
    np.testing.assert_allclose(host(totals), expected, rtol=TOL[dtype]["rtol"], atol=1e-12)


def test_reduce_batch_sums_many_rows_and_flags_divergence():
    rng = np.random.default_rng(4)
    rows = 300  # more rows than threads: strided partial sums, then the tree
    stats = rng.random((losses.N_STATS, rows))
    penalties = np.array([0.25, 0.5])
    totals = np.zeros(codes.N_TOTALS)
    gtotals, gstats, gpen = to_device((totals, stats, penalties))
    losses.reduce_batch(gtotals, gstats, gpen, rows, True)
    got = host(gtotals)
    np.testing.assert_allclose(got[codes.T_LOSS], stats[0].sum() + 0.75 * rows, rtol=1e-12)
    np.testing.assert_allclose(got[[codes.T_WEIGHT, codes.T_CORRECT, codes.T_SQUARED,
                                    codes.T_ABSOLUTE, codes.T_WEIGHTED_CORRECT,
                                    codes.T_WEIGHTED_SQUARED, codes.T_WEIGHTED_ABSOLUTE]],
                               stats[1:].sum(axis=1), rtol=1e-12)
    assert got[codes.T_COUNT] == rows and got[codes.T_BATCHES] == 1
    stats[0, 7] = np.nan
    gstats = cuda.to_device(stats)
    losses.reduce_batch(gtotals, gstats, gpen, rows, True)
    after = host(gtotals)
    assert after[codes.T_DIVERGED] == 1 and after[codes.T_BATCHES] == 1
    losses.reduce_batch(gtotals, gstats, gpen, rows, True)  # skipped once diverged
    np.testing.assert_array_equal(host(gtotals)[codes.T_COUNT], after[codes.T_COUNT])


# --- optimizers -----------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": (codes.SGD, dict()),
    "sgd_momentum": (codes.SGD, dict(momentum=0.9)),
    "nesterov_decay": (codes.SGD_NESTEROV, dict(momentum=0.8, weight_decay=0.01)),
    "adam": (codes.ADAM, dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    "adam_decay": (codes.ADAM, dict(beta_1=0.8, beta_2=0.99, epsilon=1e-7, weight_decay=0.1)),
    "rmsprop": (codes.RMSPROP, dict(rho=0.9, epsilon=1e-7)),
    "rmsprop_momentum": (codes.RMSPROP, dict(rho=0.9, momentum=0.5, epsilon=1e-7)),
}


def hyper_array(dtype, momentum=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-7, rho=0.9,
                weight_decay=0.0):
    hyper = np.zeros(cpu_optimizers.N_HYPER, dtype)
    hyper[cpu_optimizers.H_MOMENTUM] = momentum
    hyper[cpu_optimizers.H_BETA_1] = beta_1
    hyper[cpu_optimizers.H_BETA_2] = beta_2
    hyper[cpu_optimizers.H_EPSILON] = epsilon
    hyper[cpu_optimizers.H_RHO] = rho
    hyper[cpu_optimizers.H_WEIGHT_DECAY] = weight_decay
    hyper[cpu_optimizers.H_ONE_MINUS_BETA_1] = 1.0 - beta_1  # float64, rounded once
    hyper[cpu_optimizers.H_ONE_MINUS_BETA_2] = 1.0 - beta_2
    hyper[cpu_optimizers.H_ONE_MINUS_RHO] = 1.0 - rho
    return hyper


def cpu_update(w, g, state, code, hyper, lr, step_size):
    """One CPU optimizer step (the rule kernels of fastnn.kernels.optimizers)."""
    h = cpu_optimizers
    decay = hyper[h.H_WEIGHT_DECAY]
    if code in (codes.SGD, codes.SGD_NESTEROV):
        h.sgd_update(w, g, state[0], lr, hyper[h.H_MOMENTUM], decay, code == codes.SGD_NESTEROV)
    elif code == codes.ADAM:
        h.adam_update(w, g, state[0], state[1], step_size, hyper[h.H_BETA_1],
                      hyper[h.H_BETA_2], hyper[h.H_EPSILON], lr, decay)
    else:
        h.rmsprop_update(w, g, state[0], state[1], lr, hyper[h.H_RHO], hyper[h.H_MOMENTUM],
                         hyper[h.H_EPSILON], decay)


def rates_array(dtype, n_batches, lr, hyper):
    """[lr, Adam's bias-corrected step size] per batch, steps 1..n_batches."""
    rates = np.empty((n_batches, 2), dtype)
    b1 = float(hyper[cpu_optimizers.H_BETA_1])
    b2 = float(hyper[cpu_optimizers.H_BETA_2])
    for t in range(1, n_batches + 1):
        rates[t - 1] = lr, lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    return rates


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_updates_match_cpu_over_several_steps(name, dtype):
    rng = np.random.default_rng(5)
    code, settings = OPTIMIZERS[name]
    size, steps = 37, 4
    w = rng.standard_normal(size).astype(dtype)
    w[3] = 1e-39 if dtype == np.float32 else 1e-300  # gradients of 0: slots flush to 0
    state = np.zeros((2, size), dtype)
    hyper = hyper_array(dtype, **settings)
    rates = rates_array(dtype, steps, 0.05, hyper)
    grads = rng.standard_normal((steps, size)).astype(dtype)
    grads[:, 3] = 0
    gw, gstate, ghyper, grates, totals = to_device((w, state, hyper, rates,
                                                    np.zeros(codes.N_TOTALS)))
    for step in range(steps):
        cpu_update(w, grads[step], state, code, hyper, rates[step, 0], rates[step, 1])
        optimizers.apply_update(gw, cuda.to_device(grads[step]), gstate, totals, ghyper,
                                grates, step, code)
    np.testing.assert_allclose(host(gw), w, **TOL[dtype])
    np.testing.assert_allclose(host(gstate), state, **TOL[dtype])


def test_update_is_skipped_once_diverged():
    w = np.ones(5)
    totals = np.zeros(codes.N_TOTALS)
    totals[codes.T_DIVERGED] = 1
    gw = cuda.to_device(w)
    optimizers.apply_update(gw, *to_device((np.ones(5), np.zeros((2, 5)), totals,
                                            hyper_array(np.float64), np.ones((1, 2)))),
                            0, codes.SGD)
    np.testing.assert_array_equal(host(gw), w)


# --- whole network ----------------------------------------------------------------------

def make_net(sizes, activations, has_bias, l2, dtype, seed=6):
    """(net, params) with small random weights and biases."""
    rng = np.random.default_rng(seed)
    net = (np.array(sizes, np.int64), np.array(activations, np.int64),
           np.array(has_bias, np.bool_), np.array(l2, np.float64))
    count = sum(sizes[l + 1] * sizes[l] + (sizes[l + 1] if has_bias[l] else 0)
                for l in range(len(activations)))
    return net, (rng.standard_normal(count) * 0.5).astype(dtype)


def make_data(n, sizes, loss, dtype, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0])).astype(dtype)
    y, labels = targets(loss, n, sizes[-1], rng, dtype)
    weights = rng.uniform(0.5, 1.5, n).astype(dtype)
    return x, y, labels, weights


# The CPU epoch kernel's dropout argument (spec, step) with no Dropout layer.
NO_DROPOUT = (None, np.int64(0))


def cpu_train_epoch(net, params, data, order, batch_size, run_codes, optimizer):
    """The CPU train_epochs over one epoch (split by rows) from fresh buffers;
    returns (totals, params, state).

    The CPU splits each batch into parts with their own gradient buffers and
    per-part totals (summed here); the device does not.
    """
    sizes = net[0]
    parts = 2
    workspace = batch_size * int(sizes.sum())
    totals = np.zeros((parts, codes.N_TOTALS))
    buffers = train_buffers(params.copy(), np.zeros((parts, params.size), params.dtype),
                            np.zeros((2, params.size), params.dtype),
                            np.zeros(workspace, params.dtype), np.zeros(workspace, params.dtype))
    saved = (np.empty_like(params), np.empty_like(buffers[2]))
    alone = (0, 1, np.zeros(2, np.int64))  # (worker, workers, barrier): no team
    cpu_network.train_epochs(alone, totals[np.newaxis], net, buffers, saved, data_arrays(*data),
                             order[np.newaxis], batch_size, None,  # split by rows
                             run_codes,
                             optimizer + (cpu_optimizers.update_paths(*optimizer[:2]),),
                             NO_DROPOUT)
    return totals.sum(axis=0), buffers[0], buffers[2]


def gpu_train_epoch(net, params, data, order, batch_size, run_codes, optimizer):
    """kernels.cuda.network.train_epoch from fresh device buffers; returns host
    (totals, params, state)."""
    workspace = batch_size * int(net[0].sum())
    dtype = params.dtype
    totals = cuda.to_device(np.zeros(codes.N_TOTALS))
    buffers = to_device((params, np.zeros_like(params), np.zeros((2, params.size), dtype),
                         np.zeros(workspace, dtype), np.zeros(workspace, dtype)))
    code, hyper, rates = optimizer
    network.train_epoch(totals, net, buffers, to_device(data), cuda.to_device(order),
                        batch_size, run_codes, (code, *to_device((hyper, rates))))
    return host(totals), host(buffers[0]), host(buffers[2])


TRAINING = {
    # sparse softmax cross-entropy, SGD with momentum, L2 on the hidden layer
    "sgd_momentum": dict(sizes=(6, 5, 3), activations=(codes.TANH, codes.SOFTMAX),
                         has_bias=(True, True), l2=(0.01, 0.0),
                         loss=codes.SPARSE_CATEGORICAL_CROSSENTROPY,
                         optimizer=(codes.SGD, dict(momentum=0.9))),
    # sigmoid + mse, Adam, a layer without bias
    "adam": dict(sizes=(6, 5, 3), activations=(codes.RELU, codes.SIGMOID),
                 has_bias=(False, True), l2=(0.0, 0.0), loss=codes.MSE,
                 optimizer=(codes.ADAM, dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7))),
}


@pytest.mark.parametrize("name", list(TRAINING))
def test_train_epoch_matches_cpu(name):
    dtype = np.float64
    case = TRAINING[name]
    sizes, loss = case["sizes"], case["loss"]
    n, batch_size = 11, 4  # batches of 4, 4 and a partial 3
    net, params = make_net(sizes, case["activations"], case["has_bias"], case["l2"], dtype)
    data = make_data(n, sizes, loss, dtype)
    order = np.random.default_rng(8).permutation(n).astype(np.int64)
    code, settings = case["optimizer"]
    hyper = hyper_array(dtype, **settings)
    optimizer = (code, hyper, rates_array(dtype, 3, 0.1, hyper))
    run_codes = (loss, ACCURACY[loss], True)
    totals, want, want_state = cpu_train_epoch(net, params, data, order, batch_size,
                                               run_codes, optimizer)
    got_totals, got, got_state = gpu_train_epoch(net, params, data, order, batch_size,
                                                 run_codes, optimizer)
    assert totals[codes.T_BATCHES] == 3 and totals[codes.T_COUNT] == n
    assert np.abs(got - params).max() > 1e-3  # it did train
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_state, want_state, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_totals, totals, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf * 0 in a padded tile
def test_train_epoch_stops_updating_at_a_non_finite_loss():
    dtype = np.float64
    sizes, loss = (3, 2), codes.SSE
    net, params = make_net(sizes, (codes.LINEAR,), (True,), (0.0,), dtype)
    x, y, labels, weights = make_data(7, sizes, loss, dtype)
    y[3, 0] = np.inf  # sample 3 is in the second batch: the epoch diverges there
    hyper = hyper_array(dtype)
    rates = rates_array(dtype, 4, 0.1, hyper)
    args = (net, params, (x, y, labels, weights), np.arange(7, dtype=np.int64), 2,
            (loss, codes.NO_ACCURACY, False), (codes.SGD, hyper, rates))
    totals, rolled_back, _ = cpu_train_epoch(*args)
    got_totals, got, _ = gpu_train_epoch(*args)
    assert totals[codes.T_DIVERGED] == 1 and totals[codes.T_BATCHES] == 1
    np.testing.assert_allclose(got_totals, totals, rtol=1e-12)
    # The CPU puts back the epoch's starting weights (the model's rollback); the
    # device leaves them after the last finite batch, the first one's update.
    np.testing.assert_array_equal(rolled_back, params)
    first_batch = args[:3] + (args[3][:2],) + args[4:]
    _, want, _ = cpu_train_epoch(*first_batch)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_and_evaluate_match_cpu(dtype):
    sizes = (6, 5, 3)
    loss = codes.CATEGORICAL_CROSSENTROPY
    net, params = make_net(sizes, (codes.LEAKY_RELU, codes.SOFTMAX), (True, False),
                           (0.5, 0.0), dtype)
    x, y, labels, weights = make_data(9, sizes, loss, dtype)
    capacity = 4  # chunks of 4, 4 and 1
    acts = np.zeros(capacity * sum(sizes), dtype)
    out = np.empty((9, 3), dtype)
    cpu_network.predict(out, net, params, acts, x, capacity)
    totals = np.zeros(codes.N_TOTALS)
    cpu_network.evaluate(totals, net, params, acts, (x, y, labels, weights), np.arange(9),
                         (loss, codes.CATEGORICAL_ACCURACY, True), capacity)

    gparams, gacts, gx = to_device((params, acts, x))
    gout = cuda.device_array((9, 3), dtype)
    network.predict(gout, net, gparams, gacts, gx, capacity)
    np.testing.assert_allclose(host(gout), out, **TOL[dtype])
    gtotals = cuda.to_device(np.zeros(codes.N_TOTALS))
    network.evaluate(gtotals, net, gparams, gacts, to_device((x, y, labels, weights)),
                     (loss, codes.CATEGORICAL_ACCURACY, True), capacity)
    np.testing.assert_allclose(host(gtotals), totals, rtol=TOL[dtype]["rtol"], atol=1e-12)


# --- Keras's cross-entropy normalization ------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", [codes.CATEGORICAL_CROSSENTROPY,
                                  codes.SPARSE_CATEGORICAL_CROSSENTROPY])
def test_output_rows_normalize_crossentropy_as_keras(loss, dtype):
    """A linear output's rows divided by their sums (Keras 3): the hand-computed loss
    (-log .9 - log(.89/1.99) - log .94) and the reference's delta."""
    from fastnn import reference
    out = np.array([[.9, .05, .05], [.5, .89, .6], [.05, .01, .94]], dtype)
    n, units = out.shape
    y = np.eye(units, dtype=dtype)
    if loss == codes.SPARSE_CATEGORICAL_CROSSENTROPY:
        y_device, labels = np.zeros((0, units), dtype), np.arange(n, dtype=np.int64)
    else:
        y_device, labels = y, np.zeros(0, np.int64)
    weights = np.ones(n, dtype)
    gd = cuda.device_array((n, units), dtype)
    stats = cuda.device_array((losses.N_STATS, 8))
    totals, penalties = to_device((np.zeros(codes.N_TOTALS), np.zeros(1)))
    gy, glabels, gweights, gorder, gout = to_device((y_device, labels, weights,
                                                     np.arange(n, dtype=np.int64), out))
    losses.output_delta(gd, stats, gout, (gy, glabels, gweights), gorder, 0,
                        (loss, codes.LINEAR, codes.NO_ACCURACY, False))
    losses.reduce_batch(totals, stats, penalties, n, True)
    expected = -np.log(.9) - np.log(.89 / 1.99) - np.log(.94)
    assert host(totals)[codes.T_LOSS] == pytest.approx(expected, rel=TOL[dtype]["rtol"])
    delta = reference.output_delta(out.astype(np.float64), np.eye(units),
                                   "categorical_crossentropy", "linear")
    np.testing.assert_allclose(host(gd), delta, **TOL[dtype])


def test_float32_adam_uses_the_float64_complements():
    """1 - beta_2 from the hyper slot: 0.001 rounded once, not 1 - float32(0.999)."""
    hyper = hyper_array(np.float32, beta_1=0.9, beta_2=0.999)
    assert hyper[cpu_optimizers.H_ONE_MINUS_BETA_2] == np.float32(0.001)
    g = np.array([0.5, -2.0, 3.0], np.float32)
    w = np.zeros(3, np.float32)
    rates = np.array([[0.1, 0.1]], np.float32)
    gw, gstate = to_device((w, np.zeros((2, 3), np.float32)))
    optimizers.apply_update(gw, *to_device((g, )), gstate, *to_device((
        np.zeros(codes.N_TOTALS), hyper, rates)), 0, codes.ADAM)
    state = host(gstate)
    np.testing.assert_array_equal(state[0], np.float32(0.1) * g)
    np.testing.assert_array_equal(state[1], np.float32(0.001) * (g * g))


# --- loss options: from_logits, label smoothing, mae, huber ---------------------------

LOSS_OPTIONS = [  # (code, from_logits, label_smoothing, delta)
    (codes.MAE, 0, 0.0, 1.0),
    (codes.HUBER, 0, 0.0, 0.4),
    (codes.BINARY_CROSSENTROPY, 1, 0.1, 1.0),
    (codes.BINARY_CROSSENTROPY, 0, 0.2, 1.0),
    (codes.CATEGORICAL_CROSSENTROPY, 1, 0.3, 1.0),
    (codes.CATEGORICAL_CROSSENTROPY, 0, 0.1, 1.0),
    (codes.SPARSE_CATEGORICAL_CROSSENTROPY, 1, 0.0, 1.0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["linear", "sigmoid", "softmax"])
@pytest.mark.parametrize("loss", LOSS_OPTIONS)
def test_output_delta_with_loss_options_matches_cpu(loss, activation, dtype):
    rng = np.random.default_rng(5)
    activation = ACTIVATIONS[activation]
    big_n, n, units, start = 9, 5, 4, 2
    y, labels = targets(loss[0], big_n, units, rng, dtype)
    weights = rng.uniform(0.5, 1.5, big_n).astype(dtype)
    order = rng.permutation(big_n).astype(np.int64)
    out = activated(rng.standard_normal((n, units)).astype(dtype) * 2, activation)
    d = np.empty((n, units), dtype)
    total = cpu_losses.output_delta(d, out, y, labels, weights, order[start:start + n],
                                    loss, activation, n)
    gd = cuda.device_array((n, units), dtype)
    stats = cuda.device_array((losses.N_STATS, 8))
    totals, penalties = to_device((np.zeros(codes.N_TOTALS), np.zeros(2)))
    gy, glabels, gweights, gorder, gout = to_device((y, labels, weights, order, out))
    losses.output_delta(gd, stats, gout, (gy, glabels, gweights), gorder, start,
                        (loss, activation, codes.NO_ACCURACY, False))
    losses.reduce_batch(totals, stats, penalties, n, True)
    np.testing.assert_allclose(host(gd), d, **TOL[dtype])
    np.testing.assert_allclose(host(totals)[codes.T_LOSS], total, rtol=TOL[dtype]["rtol"])


# --- third-slot optimizers: Adam(amsgrad=True), RMSprop(centered=True) ----------------

THREE_SLOTS = {
    "amsgrad": (codes.ADAM_AMSGRAD, dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                                         weight_decay=0.01)),
    "centered": (codes.RMSPROP_CENTERED, dict(rho=0.9, epsilon=1e-7)),
    "centered_momentum": (codes.RMSPROP_CENTERED, dict(rho=0.9, momentum=0.5, epsilon=1e-7)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(THREE_SLOTS))
def test_three_slot_updates_match_cpu(name, dtype):
    rng = np.random.default_rng(6)
    code, settings = THREE_SLOTS[name]
    size, steps = 37, 4
    w = rng.standard_normal(size).astype(dtype)
    state = np.zeros((3, size), dtype)
    hyper = hyper_array(dtype, **settings)
    rates = rates_array(dtype, steps, 0.05, hyper)
    grads = rng.standard_normal((steps, size)).astype(dtype)
    grads[2] *= 0.1  # v falls: amsgrad's maximum matters
    gw, gstate, ghyper, grates, totals = to_device((w, state, hyper, rates,
                                                    np.zeros(codes.N_TOTALS)))
    for step in range(steps):
        cpu_optimizers.apply_update(w, grads[step], state[0], state[1], state[2], code, hyper,
                                    rates[step, 0], rates[step, 1],
                                    cpu_optimizers.update_paths(code, hyper))
        optimizers.apply_update(gw, cuda.to_device(grads[step]), gstate, totals, ghyper,
                                grates, step, code)
    np.testing.assert_allclose(host(gw), w, **TOL[dtype])
    np.testing.assert_allclose(host(gstate), state, **TOL[dtype])
