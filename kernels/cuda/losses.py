"""Output deltas, per-row losses and metrics on the device, and their reduction.

``output_rows`` is ``output_delta`` and ``accumulate_metrics`` of kernels/losses.py
fused, one thread per batch row: it writes the row's delta (unless ``d`` is empty,
as in evaluation) and the row's weighted loss and metric terms into ``stats``
(N_STATS, capacity) float64. ``reduce_rows`` then sums those columns in one block and
adds them to the epoch's ``totals`` on the device, so no batch ever waits for the host.
"""
import math

from ._backend import cuda

from ..codes import (HUBER_DELTA, LEAKY_RELU_SLOPE, SOFTMAX, T_ABSOLUTE, T_BATCHES,
                     T_CORRECT, T_COUNT, T_DIVERGED, T_LOSS, T_SQUARED, T_WEIGHT,
                     T_WEIGHTED_ABSOLUTE, T_WEIGHTED_CORRECT, T_WEIGHTED_SQUARED)
from .activations import derivative, softmax_backward_row
from .launch import REDUCE_THREADS, line_grid, reduce_grid
from .rules import DEVICE

# Rows of the per-row ``stats`` scratch (float64, (N_STATS, capacity)).
S_LOSS = 0      # w_i * L_i
S_WEIGHT = 1    # w_i
S_CORRECT = 2   # (fraction of) correct
S_SQUARED = 3   # mean squared error of the row (0 unless ``errors``)
S_ABSOLUTE = 4  # mean absolute error of the row (0 unless ``errors``)
S_WEIGHTED_CORRECT = 5   # w_i * S_CORRECT
S_WEIGHTED_SQUARED = 6   # w_i * S_SQUARED
S_WEIGHTED_ABSOLUTE = 7  # w_i * S_ABSOLUTE
N_STATS = 8

# The per-element and per-row rules of kernels/rules.py, as device functions; what
# stays here is the thread per row and the reduction.
_smoothing = DEVICE.smoothing
_sample_loss = DEVICE.sample_loss
_row_delta = DEVICE.row_delta
_row_scale = DEVICE.row_scale
_collapses = DEVICE.collapses
_row_correct = DEVICE.row_correct
_row_errors = DEVICE.row_errors


@cuda.jit(device=True)
def _row_metrics(stats, p, i, y, labels, sample, w, accuracy, errors):
    """stats[S_WEIGHT:, i] = w, correct, mse, mae of output row p (units,),
    unweighted and times w (float64)."""
    units = p.shape[0]
    sparse = labels.shape[0] > 0
    stats[S_WEIGHT, i] = w
    correct = _row_correct(p, y, labels, sample, accuracy, sparse)
    stats[S_CORRECT, i] = correct
    stats[S_WEIGHTED_CORRECT, i] = float(w) * correct
    squared = 0.0
    absolute = 0.0
    if errors:
        squared, absolute = _row_errors(p, y, labels, sample, sparse)
        squared = squared / units
        absolute = absolute / units
    stats[S_SQUARED, i] = squared
    stats[S_ABSOLUTE, i] = absolute
    stats[S_WEIGHTED_SQUARED, i] = float(w) * squared
    stats[S_WEIGHTED_ABSOLUTE, i] = float(w) * absolute


@cuda.jit(cache=True)
def output_rows(d, stats, out, targets, order, start, codes, options):
    """Delta, loss and metrics of each batch row; one thread per row.

    out = y_hat (n, units); row i is sample s = order[start + i] (s = start + i when
    order is empty) of targets = (y (N, units) or empty, labels (N,) int64 or empty,
    weights (N,)); codes = (loss, from_logits, activation, accuracy, errors);
    options = (label_smoothing, delta) float64 (see kernels/losses.py).
    d (n, units): overwritten with dJ/dz for J = sum_i w_s L_s / n (sse: no 1/n),
    unless d is empty (evaluation).
    stats (N_STATS, capacity) float64: column i overwritten (S_LOSS = w_s * L_s, ...).
    """
    i = cuda.grid(1)
    if i >= out.shape[0]:
        return
    y, labels, weights = targets
    loss, logits, activation, accuracy, errors = codes
    label_smoothing, huber_delta = options
    sample = order[start + i] if order.shape[0] > 0 else start + i
    w = weights[sample]
    p = out[i]
    units = p.shape[0]
    width = out.dtype.type(huber_delta)
    keep, add = _smoothing(loss, label_smoothing, units, out)
    stats[S_LOSS, i] = w * _sample_loss(p, y, labels, sample, loss, logits, keep, add, width)
    if d.shape[0] > 0:
        di = d[i]
        collapsed = _collapses(loss, logits, activation)
        _row_delta(di, p, y, labels, sample, loss, logits, collapsed,
                   _row_scale(loss, w, out.shape[0], units, out), keep, add, width)
        if not collapsed:  # the output activation's derivative, as the CPU's batch pass
            if activation == SOFTMAX:
                softmax_backward_row(di, p)
            else:
                zero = out.dtype.type(0)
                one = out.dtype.type(1)
                slope = out.dtype.type(LEAKY_RELU_SLOPE)
                for j in range(units):
                    di[j] = derivative(di[j], p[j], activation, zero, one, slope)
    _row_metrics(stats, p, i, y, labels, sample, w, accuracy, errors)


@cuda.jit(cache=True)
def reduce_rows(totals, stats, penalties, rows, training):
    """Add the batch's rows [0, rows) of stats to totals (N_TOTALS,) float64; one block.

    The loss slot gets sum_i w_i L_i (+ rows * sum(penalties) when ``training``).
    Training also skips everything once totals[T_DIVERGED] is set, sets it when the
    batch loss is not finite, and otherwise counts the batch in T_BATCHES.
    Tree reduction in float64 shared memory; blockDim.x a power of two.
    """
    partial = cuda.shared.array((N_STATS, REDUCE_THREADS), dtype=stats.dtype)
    t = cuda.threadIdx.x
    threads = cuda.blockDim.x
    if training and totals[T_DIVERGED] != 0:
        return  # uniform across the block: every thread reads it before any write
    for s in range(N_STATS):
        acc = 0.0
        for i in range(t, rows, threads):
            acc += stats[s, i]
        partial[s, t] = acc
    cuda.syncthreads()
    step = threads // 2
    while step > 0:
        if t < step:
            for s in range(N_STATS):
                partial[s, t] += partial[s, t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        batch_total = partial[S_LOSS, 0]
        if training:
            penalty = 0.0
            for layer in range(penalties.shape[0] - 1, -1, -1):
                penalty += penalties[layer]
            batch_total += penalty * rows
        totals[T_LOSS] += batch_total
        totals[T_WEIGHT] += partial[S_WEIGHT, 0]
        totals[T_COUNT] += rows
        totals[T_CORRECT] += partial[S_CORRECT, 0]
        totals[T_SQUARED] += partial[S_SQUARED, 0]
        totals[T_ABSOLUTE] += partial[S_ABSOLUTE, 0]
        totals[T_WEIGHTED_CORRECT] += partial[S_WEIGHTED_CORRECT, 0]
        totals[T_WEIGHTED_SQUARED] += partial[S_WEIGHTED_SQUARED, 0]
        totals[T_WEIGHTED_ABSOLUTE] += partial[S_WEIGHTED_ABSOLUTE, 0]
        if training:
            if math.isfinite(batch_total):
                totals[T_BATCHES] += 1
            else:
                totals[T_DIVERGED] = 1.0


def output_delta(d, stats, out, targets, order, start, codes):
    """Launch ``output_rows`` over out's rows (host side; see the kernel's docstring).

    codes = (loss, activation, accuracy, errors) host ints; the loss is a code or
    (code, from_logits, label_smoothing, delta), as the CPU kernels take it.
    """
    loss = codes[0] if isinstance(codes[0], tuple) else (codes[0], 0, 0.0, HUBER_DELTA)
    flags = (int(loss[0]), int(loss[1]), int(codes[1]), int(codes[2]), int(bool(codes[3])))
    options = (float(loss[2]), float(loss[3]))
    grid, block = line_grid(out.shape[0])
    output_rows[grid, block](d, stats, out, targets, order, int(start), flags, options)


def reduce_batch(totals, stats, penalties, rows, training):
    """Launch ``reduce_rows`` (host side; see the kernel's docstring)."""
    grid, block = reduce_grid(rows)
    reduce_rows[grid, block](totals, stats, penalties, int(rows), bool(training))
