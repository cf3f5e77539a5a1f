"""Whole-network passes over the flat buffers: one compiled call per epoch.

The network is data, not code, so one compilation serves every depth and width.
Training takes the tuples ``layout.train_buffers`` and ``data_arrays`` build, and
net:
  net     = (sizes (L+1,) int64, activations (L,) int64, has_bias (L,) bool,
             l2 (L,) float64)
  params  = every layer's W (units, inputs) then b (units,), back to back (P,)
  grads   = (parts, P), each row in the layout of params; state = (2 or 3, P) slots
  acts, deltas = workspace (capacity * sum(sizes),): layer l's block holds
             capacity rows of sizes[l] values; ``layer_rows`` views rows of it.

Training splits every mini-batch into ``parts`` parts (the rows of ``grads``, fixed
per fit by the caller from the core count and the batch size). ``train_epochs`` is
called by one thread, or by a team of up to ``parts`` threads (Python threads: the
kernels release the GIL) that share the parts and meet at a spin barrier; the
arithmetic and its order do not depend on the team's size, so any team gives
bitwise identical results.
Two ways to split, fixed per fit (they round differently), chosen by the caller:

- by rows: part p runs the whole network on its block of the batch's rows into
  grads[p]; past a barrier the update, itself split into ``parts`` blocks of the flat
  parameters, sums the parts' gradients. Two barriers per batch. Every batch moves
  the parameters and partial gradients between the cores' caches.
- by units (``unit_rows`` not None): part p owns a block of the first layer's units, and
  computes that block's outputs, gradient and update for every row of the batch;
  the rest of the network runs split by rows as above. The first layer (50,176 of
  the seed network's 55,050 parameters) then stays in one core's cache, which is
  what a small batch's time goes to: at batch 32 it measured ~25% faster on 2 cores.
  Four barriers per batch, and each part reads the whole batch's inputs, so large
  batches split by rows. A softmax first layer splits by rows: it needs all units;
  so does a first layer wider than its input (see ``_unit_block``): the caller asks
  for this split through ``split_by_units``, which also says how many rows each of
  this layer's products may take (``unit_rows``): OpenBLAS
  multiplies small matrices without packing them first, and a 128-row batch's
  products, cut into blocks small enough for that path, ran 15-30% faster
  (``fastnn.kernels.blas.small_product_rows``).

Measured on 2 cores: both beat OpenBLAS's own threading at every batch size (it
does not split a 32-row batch's small products at all) and beat a ``prange``
region per batch, whose fork and join cost more than the barrier.
"""
import math

import numpy as np

from ._jit import kernel, python_entry, renamed
from .codes import LINEAR, SGD, SOFTMAX, T_BATCHES, T_DIVERGED, T_LOSS
from .blas import _gemm
from .checks import all_finite
from .dense import NO, YES, bias_gradient, dense_backward, dense_forward
from .dropout import _drop_block, _has_dropout, _undrop_block
from .fpmode import FLUSHES_DENORMALS, flush_denormals, restore_mode
from .layout import layer_params
from .losses import _accumulate_metrics, _loss_families, _output_delta, batch_loss
from .optimizers import (H_MOMENTUM, H_WEIGHT_DECAY, _add_velocity, _apply_update,
                         _clip_gradients)
from .prefetch import prefetch_row_head
from .sync import _barrier
from .views import matrix_view

_ALIGN = 16  # part boundaries in the flat buffers fall on whole SIMD vectors
# Layer and row numbers as NumPy ints, so the helpers they go to compile once
# (see NO, YES in dense.py).
ZERO, ONE = np.int64(0), np.int64(1)
_LINEAR = np.int64(LINEAR)


# Views (W (units, inputs), b (units,) or empty) of one layer in a flat buffer; the
# layout's one statement is in layout.py (the CUDA drivers call it too).
_layer_params = kernel(renamed(layer_params, "_layer_params"), internal=True)


@kernel(inline="always")
def _layer_rows(buffer, sizes, layer, first, last, capacity):
    """View (last - first, sizes[layer]) of rows first..last of layer ``layer``'s block
    in a workspace buffer of ``capacity`` rows per layer."""
    offset = capacity * _units_before(sizes, layer) + first * sizes[layer]
    return matrix_view(buffer, offset, last - first, sizes[layer])


@kernel(internal=True)
def _units_before(sizes, layer):
    """sizes[0] + ... + sizes[layer - 1]; with layer = L + 1, the values per workspace
    row. A loop, not ``sizes[:layer].sum()``: NumPy's sum compiled anew at each of its
    call sites (~0.05 s of cold start each)."""
    total = 0
    for l in range(layer):
        total += sizes[l]
    return total


@kernel(inline="always")
def _capacity(buffer, sizes):
    """Rows per layer block of a workspace buffer (see the module docstring)."""
    return buffer.shape[0] // _units_before(sizes, sizes.shape[0])


@kernel(internal=True)
def _block(count, part, parts):
    """(first, last) of part ``part`` of ``count`` items cut into ``parts`` blocks."""
    size = -(-count // parts)
    first = min(part * size, count)
    return first, min(first + size, count)


@kernel(inline="always")
def forward(acts, params, net, x, first, last, capacity, first_layer, dropout, step):
    """Run layers ``first_layer``.. on x, rows first..last of the batch; returns the
    output view (last - first, units_L). Layer l's output goes to rows first..last
    of the workspace's block l + 1; x may live outside ``acts`` (predict reads the
    caller's rows in place). ``dropout``: a spec (see ``fastnn.kernels.dropout``)
    applied at training step ``step`` to the layers' outputs, or None (inference).
    """
    sizes, activations, has_bias, _ = net
    a = x
    for layer in range(first_layer, activations.shape[0]):
        w, b = _layer_params(params, sizes, has_bias, layer)
        out = _layer_rows(acts, sizes, layer + 1, first, last, capacity)
        dense_forward(out, a, w, b, activations[layer])
        _drop_block(out, dropout, layer + 1, step, first, ZERO)
        a = out
    return a


@kernel(inline="always")
def backward(grads, deltas, params, acts, net, first, last, capacity, last_layer,
             with_penalty, dropout, step):
    """Fill grads of layers L-1 down to ``last_layer`` from the output delta (already
    in ``deltas``), for rows first..last; layer ``last_layer`` still writes its input
    delta when it is not layer 0, through the dropout of its input block (the spec
    ``dropout`` at ``step``).

    With ``with_penalty``, adds the L2 penalty's gradient 2*l2*W and returns the
    penalty sum_l l2*|W|^2 (else 0).
    """
    sizes, activations, has_bias, l2 = net
    penalty = 0.0
    for layer in range(activations.shape[0] - 1, last_layer - 1, -1):
        w, _ = _layer_params(params, sizes, has_bias, layer)
        dw, db = _layer_params(grads, sizes, has_bias, layer)
        dout = _layer_rows(deltas, sizes, layer + 1, first, last, capacity)
        x = _layer_rows(acts, sizes, layer, first, last, capacity)
        # Layer 0 has no input delta: its dx is empty (and its activation unused).
        dx = _layer_rows(deltas, sizes, layer, first, last if layer > 0 else first, capacity)
        # One inlined dense_backward: a second copy for the dropout branch, typed and
        # optimized even where no dropout runs, cost ~0.4 s of a cold first fit.
        dropped = layer > 0 and _has_dropout(dropout, layer)
        dense_backward(dx, dw, db, dout, x, w,
                       _LINEAR if dropped else activations[max(layer - 1, 0)])
        if dropped:  # then back through the dropout and the activation below it
            _undrop_block(dx, x, dropout, layer, step, first, activations[layer - 1])
        if with_penalty and l2[layer] != 0:
            penalty += _l2_penalty(w, l2[layer])
            _add_l2_gradient(dw, w, l2[layer])
    return penalty


@kernel(internal=True)
def _l2_penalty(w, strength):
    """strength * sum(W^2)."""
    total = 0.0
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            total += w[i, j] * w[i, j]
    return strength * total


@kernel(internal=True)
def _add_l2_gradient(dw, w, strength):
    """dw += 2*strength*W."""
    twice = dw.dtype.type(2 * strength)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            dw[i, j] += twice * w[i, j]


_GATHER_AHEAD = 2  # rows between the prefetch of a row's head and its copy
_GATHER_LINES = 4  # cache lines prefetched at the head of each row


@kernel(internal=True)
def _gather_rows(out, x, order):
    """out[i] = x[order[i]]: the mini-batch in sample order. out: (n, features)."""
    n = out.shape[0]
    for i in range(min(n, _GATHER_AHEAD)):
        prefetch_row_head(x, order[i], _GATHER_LINES)
    for i in range(n):
        if i + _GATHER_AHEAD < n:
            prefetch_row_head(x, order[i + _GATHER_AHEAD], _GATHER_LINES)
        row = x[order[i]]
        for j in range(out.shape[1]):  # element loop: a slice assignment may copy
            out[i, j] = row[j]


@kernel(inline="always")
def loss_and_gradients(grads, net, params, acts, deltas, data, order, first, last, loss,
                       batch_rows, first_layer, with_penalty, dropout, step):
    """Forward and backward pass of rows first..last of a mini-batch of ``batch_rows``
    whose samples are ``order`` (the batch's own slice of the epoch order).

    Runs layers ``first_layer``.. only: with 0, gathers the rows' inputs into the
    workspace's block 0 first; with 1, layer 0's outputs must already be in block 1
    (split by units), and its input delta is left in the deltas' block 1.
    grads (P,) gets this part's share of dJ/dparams of those layers,
    J = sum_i w_i L_i / batch_rows (sse: no division) + L2 penalty (only when
    ``with_penalty``); returns (sum_i w_i L_i + batch_rows * penalty, output view).
    ``dropout`` (a spec, see ``fastnn.kernels.dropout``) at training ``step``
    masks the inputs (when gathered here) and the hidden layers' outputs.
    """
    x, y, labels, weights = data
    sizes, activations, _, _ = net
    n_layers = activations.shape[0]
    capacity = _capacity(acts, sizes)
    a = _layer_rows(acts, sizes, first_layer, first, last, capacity)
    if first_layer == 0:
        _gather_rows(a, x, order[first:last])
        _drop_block(a, dropout, ZERO, step, first, ZERO)
    out = forward(acts, params, net, a, first, last, capacity, first_layer, dropout, step)
    d_out = _layer_rows(deltas, sizes, n_layers, first, last, capacity)
    elementwise, categorical = _loss_families(loss)
    total = _output_delta(d_out, out, y, labels, weights, order[first:last], loss,
                          activations[n_layers - 1], batch_rows, elementwise, categorical)
    penalty = backward(grads, deltas, params, acts, net, first, last, capacity, first_layer,
                       with_penalty, dropout, step)
    return total + penalty * batch_rows, out


@kernel(inline="always")
def first_layer_forward(acts, deltas, params, net, rows, part, parts, unit_rows, dropout,
                        step):
    """Layer 0's outputs for the units of part ``part`` of ``parts``, every row of the batch
    (inputs already gathered into block 0), in products of at most ``unit_rows``
    rows, through block 1's dropout at ``step``; returns that block's L2 penalty."""
    sizes, activations, has_bias, l2 = net
    capacity = _capacity(acts, sizes)
    first, last = _block(sizes[1], part, parts)
    w, b = _layer_params(params, sizes, has_bias, ZERO)
    block = _unit_block(deltas, rows, first, last)
    x = _layer_rows(acts, sizes, ZERO, ZERO, rows, capacity)
    for start in range(0, rows, unit_rows):
        stop = min(start + unit_rows, rows)
        dense_forward(block[start:stop], x[start:stop], w[first:last], b[first:last],
                      activations[0])
        _drop_block(block[start:stop], dropout, ONE, step, start, first)
    _copy(_layer_rows(acts, sizes, ONE, ZERO, rows, capacity)[:, first:last], block)
    return _l2_penalty(w[first:last], l2[0]) if l2[0] != 0 else 0.0


@kernel(inline="always")
def first_layer_gradient(dw, db, deltas, acts, net, rows, part, parts, unit_rows, alpha,
                         beta):
    """Layer 0's gradient for the units of part ``part`` of ``parts`` over every row
    (its output delta already in the deltas' block 1): dw = beta * dw + alpha * dJ/dW
    and db = dJ/db. dw (units of the part, inputs) sums products of at most
    ``unit_rows`` rows; alpha = 1, beta = 0 give the plain gradient."""
    sizes = net[0]
    capacity = _capacity(acts, sizes)
    first, last = _block(sizes[1], part, parts)
    block = _unit_block(deltas, rows, first, last)
    _copy(block, _layer_rows(deltas, sizes, ONE, ZERO, rows, capacity)[:, first:last])
    x = _layer_rows(acts, sizes, ZERO, ZERO, rows, capacity)
    for start in range(0, rows, unit_rows):
        stop = min(start + unit_rows, rows)
        _gemm(dw, block[start:stop], x[start:stop], YES, NO, alpha, beta if start == 0 else 1.0)
    bias_gradient(db, block)


@kernel(inline="always")
def _unit_block(deltas, rows, first, last):
    """Contiguous (rows, last - first) block for layer 0's units first..last, in the
    deltas' block 0 (layer 0 has no input delta, so it is free; it holds
    capacity * inputs values, hence units <= inputs). The unit split computes in
    these rather than in column blocks of the workspace, so the dense kernels see
    the C-contiguous layout they are already compiled for: a second layout compiled
    gemm and the activation kernels twice."""
    return matrix_view(deltas, rows * first, rows, last - first)


@kernel(internal=True)
def _copy(out, values):
    """out[...] = values (2-D, same shape)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = values[i, j]


@kernel(inline="always")
def _third_slot(state, first, last):
    """state[2, first:last] when the optimizer has a third slot (amsgrad, centered
    RMSprop), else an empty view of the same type."""
    if state.shape[0] > 2:
        return state[2, first:last]
    return state[0, first:first]


@kernel(inline="always")
def _update(params, grads, state, first, last, optimizer_code, hyper, lr, step_size, paths,
            summed):
    """Update params[first:last] from the sum of the parts' gradients (into grads[0]);
    parts 1 .. summed - 1 are already in grads[0]."""
    g = grads[0, first:last]
    for other in range(summed, grads.shape[0]):
        _add_into(g, grads[other, first:last])
    _apply_update(params[first:last], g, state[0, first:last], state[1, first:last],
                  _third_slot(state, first, last), optimizer_code, hyper, lr, step_size,
                  paths)


@kernel(internal=True)
def _first_layer_step(params, grads, state, deltas, acts, net, rows, part, parts, unit_rows,
                      optimizer_code, hyper, lr, step_size, paths, into_velocity):
    """Gradient and update of layer 0's units of part ``part`` of ``parts`` over the whole batch;
    grads (P,) is the part's row of the gradients.

    ``into_velocity`` (plain SGD, no L2 on layer 0, denormals flushed by the CPU):
    the gradient product accumulates straight into the velocity, v = momentum * v -
    lr * g (into W itself without momentum: W = (1 - lr * decay) * W - lr * g), and
    W takes v in one more pass. Keras 3's SGD rule either way, but layer 0 (most of
    the parameters) is swept five times a step instead of six, and the sweep outside
    the product reads two arrays instead of three: a small batch's update is bound
    by memory traffic.

    This and ``_first_layer_by_units`` are kernels of their own, not inlined into
    ``train_epochs``: called once a batch, only by fits that split by units (wide
    inputs, where a call costs nothing), they keep the epoch kernel smaller for LLVM,
    whose passes slow down faster than a function grows (the seed network's cold
    first fit 10.3-10.5 s against 10.8 inlined).
    """
    sizes, _, has_bias, l2 = net
    inputs, units = sizes[0], sizes[1]
    first, last = _block(units, part, parts)
    w_first, w_last = first * inputs, last * inputs
    w, _ = _layer_params(params, sizes, has_bias, ZERO)
    dw, db = _layer_params(grads, sizes, has_bias, ZERO)
    velocity, _ = _layer_params(state[0], sizes, has_bias, ZERO)
    momentum = hyper[H_MOMENTUM]
    shrink = params.dtype.type(1) - lr * hyper[H_WEIGHT_DECAY]
    # One product either way: out = beta * out + alpha * dJ/dW.
    out, alpha, beta = dw[first:last], 1.0, 0.0
    if into_velocity:
        alpha = -float(lr)
        if momentum == 0:
            out, beta = w[first:last], float(shrink)
        else:
            out, beta = velocity[first:last], float(momentum)
    first_layer_gradient(out, db[first:last], deltas, acts, net, rows, part, parts, unit_rows,
                         alpha, beta)
    if not into_velocity:
        if l2[0] != 0:
            _add_l2_gradient(dw[first:last], w[first:last], l2[0])
        _apply_update(params[w_first:w_last], grads[w_first:w_last], state[0, w_first:w_last],
                      state[1, w_first:w_last], _third_slot(state, w_first, w_last),
                      optimizer_code, hyper, lr, step_size, paths)
    elif momentum != 0:
        _add_velocity(params[w_first:w_last], state[0, w_first:w_last], shrink)
    if has_bias[0]:
        b_first, b_last = units * inputs + first, units * inputs + last
        _apply_update(params[b_first:b_last], grads[b_first:b_last], state[0, b_first:b_last],
                      state[1, b_first:b_last], _third_slot(state, b_first, b_last),
                      optimizer_code, hyper, lr, step_size, paths)


@kernel(internal=True)
def _first_layer_by_units(team, totals, net, buffers, x, batch_order, unit_rows, dropout,
                          step):
    """The split by units' first pass of a batch: each part gathers its rows of the
    inputs, then (after a barrier) computes layer 0's outputs for its units over every
    row, adding its share of the L2 penalty; a barrier closes it."""
    worker, workers, sync = team
    params, grads, _, acts, deltas = buffers
    sizes = net[0]
    parts = grads.shape[0]
    rows = batch_order.shape[0]
    capacity = _capacity(acts, sizes)
    for part in range(worker, parts, workers):
        first, last = _block(rows, part, parts)
        inputs = _layer_rows(acts, sizes, ZERO, first, last, capacity)
        _gather_rows(inputs, x, batch_order[first:last])
        _drop_block(inputs, dropout, ZERO, step, first, ZERO)
    _barrier(sync, workers)
    for part in range(worker, parts, workers):
        penalty = first_layer_forward(acts, deltas, params, net, rows, part, parts,
                                      unit_rows, dropout, step)
        totals[part, T_LOSS] += penalty * rows
    _barrier(sync, workers)


@kernel(internal=True)
def _gradients_by_rows(team, totals, net, buffers, data, batch_order, codes, first_layer,
                       shared, dropout, step):
    """Each part's forward and backward pass over its rows of the batch, from layer
    ``first_layer`` on, into its own row of grads (from ``shared`` on), with its loss
    and metrics in its row of totals. A part with no rows gets a zero gradient.
    A kernel of its own, called by symbol once a batch: inlined, its forward and
    backward passes made ``train_epochs`` the function LLVM spends longest on (the
    seed network's cold first fit 8.8-9.1 s apart against 9.6 inlined; the 3-4-1
    network's epoch within noise)."""
    worker, workers, _ = team
    params, grads, _, acts, deltas = buffers
    _, y, labels, weights = data
    loss, accuracy, errors = codes
    parts = grads.shape[0]
    rows = batch_order.shape[0]
    for part in range(worker, parts, workers):
        first, last = _block(rows, part, parts)
        if last > first:
            total, out = loss_and_gradients(grads[part], net, params, acts, deltas, data,
                                            batch_order, first, last, loss, rows,
                                            first_layer, part == 0, dropout, step)
            _accumulate_metrics(totals[part], out, y, labels, weights,
                                batch_order[first:last], accuracy, errors)
            totals[part, T_LOSS] += total
        else:
            grads[part, shared:] = 0


def split_by_units(unit_rows, net):
    """``train_epochs``' unit_rows for a network: ``unit_rows`` (> 0: rows per
    product of layer 0) where its first layer can split by units, else None (split
    by rows; ``unit_rows`` 0 asks for that). A softmax first layer needs all its
    units, and the unit blocks borrow the deltas' block 0, so they need units <=
    inputs. A fit that splits by rows does not compile the split by units: about a
    quarter of a cold first fit (an 8-32-32-1 network's: 9.6-10.2 s against
    12.1-13.3 with it)."""
    sizes, activations = net[0], net[1]
    if (unit_rows > 0 and sizes.shape[0] > 2 and activations[0] != SOFTMAX
            and sizes[1] <= sizes[0]):
        return unit_rows
    return None


@kernel
def train_epochs(team, epoch_totals, net, buffers, saved, data, orders, batch_size, unit_rows,
                 codes, optimizer, dropout):
    """Train whole epochs in one call, each on its samples ``orders[e]`` in mini-batches
    of ``batch_size`` (the last may be partial): the one compiled entry point of fit,
    for a chunk of an epoch (E = 1) or for many small epochs at once, where the time
    goes between epochs.

    team = (worker, workers, sync): this thread's index, the number of threads
    running this call together, and their shared barrier (int64 (2,) zeros).
    epoch_totals (E, parts, N_TOTALS) float64: each epoch's totals, accumulated per
    part (the caller sums); orders (E, n); buffers: ``train_buffers`` (params (P,), grads
    (parts, P), state (2 or 3, P), acts (C,), deltas (C,)) with C >= min(batch_size,
    n) * sum(sizes); saved = (params (P,), state): scratch for the snapshot taken at
    each epoch's start; data: ``data_arrays`` (x (N, inputs), y (N, units) or empty, labels
    (N,) int64 or empty, weights (N,)); ``unit_rows``: ``split_by_units``'s, the rows
    each product of layer 0 split by units may take (see the module docstring), or
    None to split by rows; codes = (loss, accuracy, errors flag); optimizer = (code, hyper
    (N_HYPER,), rates (E * n_batches, 2) [lr, step_size], the epochs' steps in
    sequence, paths: ``optimizers.update_paths``);
    dropout = (spec, step): a dropout spec (``fastnn.kernels.dropout``) or None, and
    the training step of the first batch (the mask's counter).

    Worker w computes parts w, w + workers, ... of every step. The arithmetic does
    not depend on ``workers``: one thread gives bitwise the result of two. An epoch
    whose loss or weights turn non-finite ends the call: the snapshot is put back
    (the weights and optimizer state of that epoch's start) and its
    totals[0, T_DIVERGED] is set. Runs with denormals flushed to zero (``fpmode``).

    The batch loop sits in this function's own body, not in a callee: Numba copies
    an inlined callee's whole IR at each level it is inlined into, and LLVM then
    optimized a called kernel again inside every caller; a separate batch-loop
    kernel cost ~4 s of a cold first fit. The passes within a batch are kernels
    called by symbol (``_jit._CalledBySymbol``), compiled once.
    """
    worker, workers, sync = team
    params, grads, state, acts, deltas = buffers
    saved_params, saved_state = saved
    optimizer_code, hyper, rates, paths = optimizer
    spec, first_step = dropout
    sizes, activations, has_bias, l2 = net
    parts = grads.shape[0]
    # Gradient clipping needs the whole summed gradient before any update: the batch's
    # gradients are summed and clipped by worker 0, between two barriers, and the
    # first layer is not split by units (its update is fused with its gradient).
    # ``unit_rows is not None`` branches compile only for a fit that may split so.
    clip = paths[3]
    clips = clip is not None
    by_units = False
    first_layer = 0
    shared = 0  # leading parameters updated per unit block: layer 0's, when split so
    into_velocity = False
    if unit_rows is not None:
        by_units = not clips
        if by_units:
            first_layer = 1
            shared = sizes[1] * sizes[0] + (sizes[1] if has_bias[0] else 0)
            into_velocity = optimizer_code == SGD and l2[0] == 0 and FLUSHES_DENORMALS
    n = orders.shape[1]
    n_batches = -(-n // batch_size)
    n_params = params.shape[0]
    chunk = -(-(n_params - shared) // (parts * _ALIGN)) * _ALIGN
    mode = flush_denormals()
    for epoch in range(orders.shape[0]):
        totals = epoch_totals[epoch]
        if worker == 0:  # the others read params only until the epoch's first barrier
            _copy_flat(saved_params, params)
            _copy(saved_state, state)
        for batch in range(n_batches):
            start = batch * batch_size
            batch_order = orders[epoch, start:min(start + batch_size, n)]
            rows = batch_order.shape[0]
            at = epoch * n_batches + batch  # the step's row of rates
            step = first_step + at
            if unit_rows is not None:
                if by_units:
                    _first_layer_by_units(team, totals, net, buffers, data[0], batch_order,
                                          unit_rows, spec, step)
            _gradients_by_rows(team, totals, net, buffers, data, batch_order, codes,
                               first_layer, shared, spec, step)
            _barrier(sync, workers)
            # Losses are >= 0, so the running sums turn non-finite exactly when a batch
            # does; every worker reads the same sums here and leaves together.
            running_loss = 0.0
            for part in range(parts):
                running_loss += totals[part, T_LOSS]
            if not math.isfinite(running_loss):
                if worker == 0:
                    totals[0, T_DIVERGED] = 1.0
                break
            lr, step_size = rates[at, 0], rates[at, 1]
            summed = 1  # parts already summed into grads[0]
            if clips:
                if worker == 0:
                    for other in range(1, parts):
                        _add_into(grads[0], grads[other])
                    _clip_gradients(grads[0], sizes, has_bias, hyper, clip)
                _barrier(sync, workers)
                summed = parts
            for part in range(worker, parts, workers):
                if unit_rows is not None:
                    if by_units:  # layer 0's units of this part, fused with their gradient
                        _first_layer_step(params, grads[0], state, deltas, acts, net, rows,
                                          part, parts, unit_rows, optimizer_code, hyper, lr,
                                          step_size, paths, into_velocity)
                first = min(shared + part * chunk, n_params)
                _update(params, grads, state, first, min(first + chunk, n_params),
                        optimizer_code, hyper, lr, step_size, paths, summed)
            _barrier(sync, workers)
            if worker == 0:
                totals[0, T_BATCHES] += 1
        if worker == 0 and (totals[0, T_DIVERGED] != 0 or not all_finite(params)):
            totals[0, T_DIVERGED] = 1.0
            _copy_flat(params, saved_params)
            _copy(state, saved_state)
        _barrier(sync, workers)  # every worker reads the verdict after worker 0 wrote it
        if totals[0, T_DIVERGED] != 0:
            break
    restore_mode(mode)


@kernel(internal=True)
def _copy_flat(out, values):
    """out[:] = values (1-D)."""
    for i in range(out.shape[0]):
        out[i] = values[i]


@kernel(internal=True)
def _add_into(out, values):
    """out += values, elementwise (1-D)."""
    for i in range(out.shape[0]):
        out[i] += values[i]


@kernel
def predict(out, net, params, acts, x, capacity):
    """out = network(x) in chunks of ``capacity`` rows. out: (N, units_L) overwritten."""
    n = x.shape[0]
    mode = flush_denormals()
    for start in range(0, n, capacity):
        stop = min(start + capacity, n)
        result = forward(acts, params, net, x[start:stop], ZERO, stop - start, capacity,
                         ZERO, None, ZERO)
        for i in range(stop - start):
            for j in range(result.shape[1]):
                out[start + i, j] = result[i, j]
    restore_mode(mode)


@kernel
def evaluate(totals, net, params, acts, data, order, codes, capacity):
    """Accumulate loss (penalty excluded) and metrics over all samples into totals;
    order = arange(N), the rows' own indices."""
    x, y, labels, weights = data
    loss, accuracy, errors = codes
    n = x.shape[0]
    for start in range(0, n, capacity):
        stop = min(start + capacity, n)
        out = forward(acts, params, net, x[start:stop], ZERO, stop - start, capacity, ZERO,
                      None, ZERO)
        totals[T_LOSS] += batch_loss(out, y, labels, weights, order[start:stop], loss)
        _accumulate_metrics(totals, out, y, labels, weights, order[start:stop], accuracy,
                            errors)


# Python entry points of the kernels above (see ``_jit.python_entry``).
gather_rows = python_entry(_gather_rows)
