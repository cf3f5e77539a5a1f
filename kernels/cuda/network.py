"""Whole-network passes on the device: host-side drivers, one kernel launch per layer pass.

Same flat layout and signatures as kernels/network.py:
  net     = (sizes (L+1,) int, activations (L,) int, has_bias (L,) bool, l2 (L,) float)
            small host arrays (NumPy; device arrays are copied back once per call):
            the driver loops over layers in Python, so layer shapes are host ints
  params  = every layer's W (units, inputs) then b (units,), back to back (P,)
  grads   = same layout as params; state = (2, P) optimizer slots
  acts, deltas = workspace (capacity * sum(sizes),): layer l's rows for a batch
            of n samples are the first n * sizes[l] values of its block.
Everything else (params, grads, state, acts, deltas, x, y, labels, weights, order,
totals, hyper, rates) is a device array, and stays there: inside the batch loop the
drivers only launch kernels on the default stream (no host copy, no synchronization),
so an epoch's loss and metrics accumulate in ``totals`` on the device.

Each driver takes an optional ``scratch`` (``allocate_scratch``) for the per-row
loss/metric terms and the L2 penalties; without one it allocates it once per call.
"""
import numpy as np

from ._backend import cuda

from ..layout import layer_params
from .dense import dense_backward, dense_forward
from .launch import REDUCE_THREADS, flat_grid, reduce_grid
from .losses import N_STATS, output_delta, reduce_batch
from .optimizers import apply_update


@cuda.jit(cache=True)
def gather_kernel(out, x, order, start):
    """out[i] = x[order[start + i]]: the mini-batch in sample order.

    out: (n, features) overwritten; x: (N, features); order: (N,) int64.
    One thread per element of out, grid-stride.
    """
    n, features = out.shape
    for index in range(cuda.grid(1), n * features, cuda.gridsize(1)):
        i = index // features
        j = index - i * features
        out[i, j] = x[order[start + i], j]


@cuda.jit(cache=True)
def l2_kernel(dw, penalties, w, strength, layer):
    """dw += 2*strength*W; penalties[layer] = strength * sum(W^2) (float64).

    dw, w: (units, inputs); one block, a tree reduction in float64 shared memory.
    """
    partial = cuda.shared.array(REDUCE_THREADS, dtype=penalties.dtype)
    t = cuda.threadIdx.x
    threads = cuda.blockDim.x
    inputs = w.shape[1]
    twice = dw.dtype.type(2 * strength)
    acc = 0.0
    for index in range(t, w.shape[0] * inputs, threads):
        i = index // inputs
        j = index - i * inputs
        acc += w[i, j] * w[i, j]
        dw[i, j] += twice * w[i, j]
    partial[t] = acc
    cuda.syncthreads()
    step = threads // 2
    while step > 0:
        if t < step:
            partial[t] += partial[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        penalties[layer] = strength * partial[0]


@cuda.jit(cache=True)
def fill_kernel(a, value):
    """a[:] = value. a: (size,); grid-stride."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[i] = value


def to_device(arrays):
    """Copy a (nested) tuple or list of NumPy arrays to the device, same structure."""
    if isinstance(arrays, (tuple, list)):
        return tuple(to_device(a) for a in arrays)
    return cuda.to_device(np.ascontiguousarray(arrays))


def allocate_scratch(capacity, n_layers):
    """Device float64 scratch for batches of up to ``capacity`` rows:
    N_STATS * capacity per-row terms, then one L2 penalty slot per layer."""
    return cuda.device_array(N_STATS * capacity + n_layers, dtype=np.float64)


def _split_scratch(scratch, capacity, n_layers):
    """(stats (N_STATS, capacity), penalties (n_layers,)) views of a scratch buffer."""
    stats = scratch[:N_STATS * capacity].reshape((N_STATS, capacity))
    penalties = scratch[N_STATS * capacity:N_STATS * capacity + n_layers]
    return stats, penalties


def _host(array):
    return array.copy_to_host() if hasattr(array, "copy_to_host") else np.asarray(array)


def _layout(net):
    """net as host Python values: (sizes, activations, has_bias, l2) lists."""
    sizes, activations, has_bias, l2 = (_host(a) for a in net)
    return ([int(s) for s in sizes], [int(a) for a in activations],
            [bool(h) for h in has_bias], [float(s) for s in l2])


def layer_rows(buffer, sizes, layer, rows, capacity):
    """Device view (rows, sizes[layer]) of layer ``layer``'s block in a workspace buffer."""
    offset = capacity * sum(sizes[:layer])
    return buffer[offset:offset + rows * sizes[layer]].reshape((rows, sizes[layer]))


def gather_rows(out, x, order, start=0):
    """out[i] = x[order[start + i]] on the device (launcher of ``gather_kernel``)."""
    grid, block = flat_grid(out.shape[0] * out.shape[1])
    gather_kernel[grid, block](out, x, order, int(start))


def _run_layers(outs, x, weights, activations):
    """Forward through every layer: x -> outs[0] -> ... -> outs[-1]; returns outs[-1]."""
    a = x
    for layer, (w, b) in enumerate(weights):
        dense_forward(outs[layer], a, w, b, activations[layer])
        a = outs[layer]
    return a


def _backprop(grad_views, weights, acts_rows, delta_rows, activations, l2, penalties):
    """Layer gradients from the output delta (in delta_rows[-1]) down to layer 0,
    with the L2 terms; penalties[layer] = l2 * |W|^2 for the layers with l2."""
    for layer in range(len(activations) - 1, -1, -1):
        w, _ = weights[layer]
        dw, db = grad_views[layer]
        dx = delta_rows[layer] if layer > 0 else None
        x_activation = activations[layer - 1] if layer > 0 else 0
        dense_backward(dx, dw, db, delta_rows[layer + 1], acts_rows[layer], w, x_activation)
        if l2[layer] != 0:
            grid, block = reduce_grid(dw.shape[0] * dw.shape[1])
            l2_kernel[grid, block](dw, penalties, w, l2[layer], layer)


def forward(acts, params, net, x, capacity):
    """Run every layer on the device rows x (n, inputs); returns the output view
    (n, units_L) of ``acts``. n <= capacity; x may live outside ``acts``."""
    sizes, activations, has_bias, _ = _layout(net)
    rows = x.shape[0]
    weights = [layer_params(params, sizes, has_bias, l) for l in range(len(activations))]
    outs = [layer_rows(acts, sizes, l, rows, capacity) for l in range(1, len(sizes))]
    return _run_layers(outs, x, weights, activations)


def train_epoch(totals, net, buffers, data, order, batch_size, codes, optimizer,
                scratch=None):
    """Train on the samples ``order`` in mini-batches of ``batch_size`` (last may be partial).

    totals (N_TOTALS,) float64 device, accumulated; net (host) / buffers (device):
    see the module docstring (workspace capacity >= batch_size rows);
    data = (x (N, inputs), y (N, units) or empty, labels (N,) int64 or empty,
    weights (N,)) device; order (n,) int64 device;
    codes = (loss, accuracy, errors flag) host ints; optimizer = (code (host int),
    hyper (N_HYPER,) device, rates (n_batches, 2) [lr, step_size] device).
    A batch whose loss is not finite sets totals[T_DIVERGED] on the device; that
    batch's update and every later batch's totals and updates are then skipped
    (the remaining launches still run). Returns nothing; read totals afterwards.
    """
    params, grads, state, acts, deltas = buffers
    x, y, labels, weights = data
    loss, accuracy, errors = codes
    optimizer_code, hyper, rates = optimizer
    sizes, activations, has_bias, l2 = _layout(net)
    n_layers = len(activations)
    capacity = acts.shape[0] // sum(sizes)
    if scratch is None:
        scratch = allocate_scratch(capacity, n_layers)
    stats, penalties = _split_scratch(scratch, capacity, n_layers)
    grid, block = flat_grid(n_layers)
    fill_kernel[grid, block](penalties, 0.0)
    weight_views = [layer_params(params, sizes, has_bias, l) for l in range(n_layers)]
    grad_views = [layer_params(grads, sizes, has_bias, l) for l in range(n_layers)]
    targets = (y, labels, weights)
    row_codes = (loss, activations[-1], accuracy, errors)
    views = {}  # rows -> (acts rows per layer, deltas rows per layer): full and last batch
    n = order.shape[0]
    for batch, start in enumerate(range(0, n, batch_size)):
        rows = min(batch_size, n - start)
        if rows not in views:
            views[rows] = tuple([layer_rows(buffer, sizes, l, rows, capacity)
                                 for l in range(n_layers + 1)] for buffer in (acts, deltas))
        acts_rows, delta_rows = views[rows]
        gather_rows(acts_rows[0], x, order, start)
        out = _run_layers(acts_rows[1:], acts_rows[0], weight_views, activations)
        output_delta(delta_rows[n_layers], stats, out, targets, order, start, row_codes)
        _backprop(grad_views, weight_views, acts_rows, delta_rows, activations, l2, penalties)
        reduce_batch(totals, stats, penalties, rows, True)
        apply_update(params, grads, state, totals, hyper, rates, batch, optimizer_code)


def predict(out, net, params, acts, x, capacity):
    """out = network(x) in chunks of ``capacity`` rows, on the device.

    out: (N, units_L) device, overwritten (the last layer writes straight into it);
    x: (N, inputs) device; acts: workspace for ``capacity`` rows.
    """
    sizes, activations, has_bias, _ = _layout(net)
    n_layers = len(activations)
    weights = [layer_params(params, sizes, has_bias, l) for l in range(n_layers)]
    n = x.shape[0]
    for start in range(0, n, capacity):
        stop = min(start + capacity, n)
        hidden = [layer_rows(acts, sizes, l, stop - start, capacity) for l in range(1, n_layers)]
        _run_layers(hidden + [out[start:stop]], x[start:stop], weights, activations)


def evaluate(totals, net, params, acts, data, codes, capacity, scratch=None):
    """Accumulate loss (penalty excluded) and metrics over all samples into totals.

    totals (N_TOTALS,) float64 device; data = (x, y, labels, weights) device arrays
    as in ``train_epoch``; codes = (loss, accuracy, errors) host ints.
    """
    x, y, labels, weights = data
    loss, accuracy, errors = codes
    sizes, activations, has_bias, _ = _layout(net)
    n_layers = len(activations)
    capacity = int(capacity)
    if scratch is None:
        scratch = allocate_scratch(capacity, n_layers)
    stats, penalties = _split_scratch(scratch, capacity, n_layers)
    weight_views = [layer_params(params, sizes, has_bias, l) for l in range(n_layers)]
    targets = (y, labels, weights)
    row_codes = (loss, activations[-1], accuracy, errors)
    no_delta = cuda.device_array((0, sizes[-1]), dtype=x.dtype)
    in_order = cuda.device_array(0, dtype=np.int64)  # empty order: sample = start + i
    n = x.shape[0]
    for start in range(0, n, capacity):
        stop = min(start + capacity, n)
        outs = [layer_rows(acts, sizes, l, stop - start, capacity)
                for l in range(1, n_layers + 1)]
        out = _run_layers(outs, x[start:stop], weight_views, activations)
        output_delta(no_delta, stats, out, targets, in_order, start, row_codes)
        reduce_batch(totals, stats, penalties, stop - start, False)
