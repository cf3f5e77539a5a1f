"""Whole-network passes over the flat buffers: one compiled call per epoch.

The network is data, not code, so one compilation serves every depth and width:
  net     = (sizes (L+1,) int64, activations (L,) int64, has_bias (L,) bool,
             l2 (L,) float64)
  params  = every layer's W (units, inputs) then b (units,), back to back (P,)
  grads   = same layout as params; state = (2, P) optimizer slots
  acts, deltas = workspace (capacity * sum(sizes),): layer l's rows for a batch
             of n samples are the first n * sizes[l] values of its block.

Training splits every mini-batch into N_PARTS row blocks, each with its own
workspace and gradient buffer (grads, acts, deltas carry a leading N_PARTS axis),
then sums the parts' gradients inside the update, itself split into N_PARTS blocks
of the flat parameters. ``train_batches`` is called by one thread, or by a team of
threads (Python threads: the kernels release the GIL) that share the blocks and
meet at a spin barrier twice per batch. The arithmetic and its order do not depend
on the team's size, so one thread and two give bitwise identical results.
Measured on 2 cores: this beat OpenBLAS's own threading at every batch size (it
does not split a 32-row batch's small products at all) and beat a ``prange``
region per batch, whose fork and join cost more than the barrier.
"""
import math

import numpy as np

from ._jit import kernel
from .codes import T_BATCHES, T_DIVERGED, T_LOSS
from .dense import dense_backward, dense_forward
from .fpmode import flush_denormals, restore_mode
from .losses import accumulate_metrics, batch_loss, output_delta
from .optimizers import apply_update
from .sync import barrier

N_PARTS = 2
_ALIGN = 16  # part boundaries in the flat buffers fall on whole SIMD vectors


@kernel
def layer_params(params, sizes, has_bias, layer):
    """Views (W (units, inputs), b (units,) or empty) of one layer in a flat buffer."""
    offset = 0
    for l in range(layer):
        offset += sizes[l + 1] * sizes[l] + (sizes[l + 1] if has_bias[l] else 0)
    inputs, units = sizes[layer], sizes[layer + 1]
    w = params[offset:offset + units * inputs].reshape((units, inputs))
    offset += units * inputs
    b = params[offset:offset + (units if has_bias[layer] else 0)]
    return w, b


@kernel
def layer_rows(buffer, sizes, layer, rows, capacity):
    """View (rows, sizes[layer]) of layer ``layer``'s block in a workspace buffer."""
    offset = capacity * sizes[:layer].sum()
    return buffer[offset:offset + rows * sizes[layer]].reshape((rows, sizes[layer]))


@kernel
def forward(acts, params, net, x, capacity):
    """Run every layer on x (n, inputs); returns the output view (n, units_L).

    x may live outside ``acts`` (predict reads the caller's rows in place).
    """
    sizes, activations, has_bias, _ = net
    rows = x.shape[0]
    a = x
    for layer in range(activations.shape[0]):
        w, b = layer_params(params, sizes, has_bias, layer)
        out = layer_rows(acts, sizes, layer + 1, rows, capacity)
        dense_forward(out, a, w, b, activations[layer])
        a = out
    return a


@kernel
def backward(grads, deltas, params, acts, net, rows, capacity, with_penalty):
    """Fill grads from the output delta (already in ``deltas``) down to layer 0.

    With ``with_penalty``, adds the L2 penalty's gradient 2*l2*W and returns the
    penalty sum_l l2*|W|^2 (else 0).
    """
    sizes, activations, has_bias, l2 = net
    penalty = 0.0
    for layer in range(activations.shape[0] - 1, -1, -1):
        w, _ = layer_params(params, sizes, has_bias, layer)
        dw, db = layer_params(grads, sizes, has_bias, layer)
        dout = layer_rows(deltas, sizes, layer + 1, rows, capacity)
        x = layer_rows(acts, sizes, layer, rows, capacity)
        if layer > 0:
            dx = layer_rows(deltas, sizes, layer, rows, capacity)
            dense_backward(dx, dw, db, dout, x, w, activations[layer - 1])
        else:
            dense_backward(dout[:0, :0], dw, db, dout, x, w, 0)
        if with_penalty and l2[layer] != 0:
            penalty += _l2_penalty(dw, w, l2[layer])
    return penalty


@kernel
def _l2_penalty(dw, w, strength):
    """dw += 2*strength*W; returns strength * sum(W^2)."""
    total = 0.0
    twice = dw.dtype.type(2 * strength)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            total += w[i, j] * w[i, j]
            dw[i, j] += twice * w[i, j]
    return strength * total


@kernel
def gather_rows(out, x, order):
    """out[i] = x[order[i]]: the mini-batch in sample order. out: (n, features)."""
    for i in range(out.shape[0]):
        row = x[order[i]]
        for j in range(out.shape[1]):  # element loop: a slice assignment may copy
            out[i, j] = row[j]


@kernel
def loss_and_gradients(grads, net, params, acts, deltas, data, order, loss, batch_rows,
                       with_penalty):
    """Forward and backward pass of the rows ``order`` of a mini-batch of ``batch_rows``.

    grads (P,) is overwritten with this part's share of dJ/dparams,
    J = sum_i w_i L_i / batch_rows (sse: no division) + L2 penalty (only when
    ``with_penalty``); returns (sum_i w_i L_i + batch_rows * penalty, output view).
    The rows' inputs are gathered into the workspace's first block.
    """
    x, y, labels, weights = data
    sizes, activations, _, _ = net
    n_layers = activations.shape[0]
    rows = order.shape[0]
    capacity = acts.shape[0] // sizes.sum()
    xb = layer_rows(acts, sizes, 0, rows, capacity)
    gather_rows(xb, x, order)
    out = forward(acts, params, net, xb, capacity)
    d_out = layer_rows(deltas, sizes, n_layers, rows, capacity)
    total = output_delta(d_out, out, y, labels, weights, order, loss,
                         activations[n_layers - 1], batch_rows)
    penalty = backward(grads, deltas, params, acts, net, rows, capacity, with_penalty)
    return total + penalty * batch_rows, out


@kernel
def train_batches(team, totals, net, buffers, data, order, batch_size, codes, optimizer):
    """Train on the samples ``order`` in mini-batches of ``batch_size`` (last may be partial).

    team = (worker, workers, sync): this thread's index, the number of threads
    running this call together, and their shared barrier (int64 (2,) zeros).
    totals (N_PARTS, N_TOTALS) float64, accumulated per part (the caller sums);
    buffers = (params (P,), grads (N_PARTS, P), state (2, P),
    acts (N_PARTS, C), deltas (N_PARTS, C)) with C >= ceil(batch_size / N_PARTS)
    * sum(sizes); data = (x (N, inputs), y (N, units) or empty, labels (N,) int64
    or empty, weights (N,)); codes = (loss, accuracy, errors flag);
    optimizer = (code, hyper (N_HYPER,), rates (n_batches, 2) [lr, step_size]).
    Worker w computes the row blocks (parts) w, w + workers, ... of every batch,
    then, past a barrier, updates the same-numbered blocks of the flat parameters.
    The arithmetic does not depend on ``workers``: one thread gives bitwise the
    result of two. Stops early, setting totals[0, T_DIVERGED], when a batch loss
    is not finite. Runs with denormals flushed to zero (see ``fpmode``).
    """
    worker, workers, sync = team
    params, grads, state, acts, deltas = buffers
    x, y, labels, weights = data
    loss, accuracy, errors = codes
    optimizer_code, hyper, rates = optimizer
    n = order.shape[0]
    n_params = params.shape[0]
    chunk = -(-n_params // (N_PARTS * _ALIGN)) * _ALIGN
    mode = flush_denormals()
    for batch, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        rows = stop - start
        part_rows = -(-rows // N_PARTS)
        for part in range(worker, N_PARTS, workers):
            first = min(start + part * part_rows, stop)
            last = min(first + part_rows, stop)
            part_order = order[first:last]
            if last > first:
                total, out = loss_and_gradients(grads[part], net, params, acts[part],
                                                deltas[part], data, part_order, loss, rows,
                                                part == 0)
                accumulate_metrics(totals[part], out, y, labels, weights, part_order, accuracy,
                                   errors)
                totals[part, T_LOSS] += total
            else:
                grads[part, :] = 0
        barrier(sync, workers)
        # Losses are >= 0, so the running sums turn non-finite exactly when a batch does;
        # every worker reads the same sums here and leaves together.
        running_loss = 0.0
        for part in range(N_PARTS):
            running_loss += totals[part, T_LOSS]
        if not math.isfinite(running_loss):
            if worker == 0:
                totals[0, T_DIVERGED] = 1.0
            break
        for block in range(worker, N_PARTS, workers):
            a = min(block * chunk, n_params)
            b = min(a + chunk, n_params)
            g = grads[0, a:b]
            for other in range(1, N_PARTS):
                _add_into(g, grads[other, a:b])
            apply_update(params[a:b], g, state[0, a:b], state[1, a:b], optimizer_code, hyper,
                         rates[batch, 0], rates[batch, 1])
        barrier(sync, workers)
        if worker == 0:
            totals[0, T_BATCHES] += 1
    restore_mode(mode)


@kernel
def train_epoch(totals, net, buffers, data, order, batch_size, codes, optimizer):
    """``train_batches`` on the calling thread alone (same arguments, no team)."""
    train_batches((0, 1, np.zeros(2, np.int64)), totals, net, buffers, data, order, batch_size,
                  codes, optimizer)


@kernel
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
        result = forward(acts, params, net, x[start:stop], capacity)
        for i in range(stop - start):
            for j in range(result.shape[1]):
                out[start + i, j] = result[i, j]
    restore_mode(mode)


@kernel
def evaluate(totals, net, params, acts, data, codes, capacity):
    """Accumulate loss (penalty excluded) and metrics over all samples into totals."""
    x, y, labels, weights = data
    loss, accuracy, errors = codes
    n = x.shape[0]
    order = np.arange(n)
    for start in range(0, n, capacity):
        stop = min(start + capacity, n)
        out = forward(acts, params, net, x[start:stop], capacity)
        totals[T_LOSS] += batch_loss(out, y, labels, weights, order[start:stop], loss)
        accumulate_metrics(totals, out, y, labels, weights, order[start:stop], accuracy,
                           errors)
