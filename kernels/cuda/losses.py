"""Output deltas, per-row losses and metrics on the device, and their reduction.

``output_rows`` is ``output_delta`` and ``accumulate_metrics`` of kernels/losses.py
fused, one thread per batch row: it writes the row's delta (unless ``d`` is empty,
as in evaluation) and the row's weighted loss and metric terms into ``stats``
(N_STATS, capacity) float64. ``reduce_rows`` then sums those columns in one block and
adds them to the epoch's ``totals`` on the device, so no batch ever waits for the host.
"""
import math

from ._backend import cuda

from .. import losses as _cpu
from ..codes import (BINARY_ACCURACY, BINARY_CROSSENTROPY, CATEGORICAL_ACCURACY,
                     CATEGORICAL_CROSSENTROPY, HUBER, HUBER_DELTA, LEAKY_RELU_SLOPE, MAE, MSE,
                     PROB_EPSILON, SIGMOID,
                     SOFTMAX, SPARSE_ACCURACY, SPARSE_CATEGORICAL_CROSSENTROPY, SSE,
                     T_ABSOLUTE, T_BATCHES, T_CORRECT, T_COUNT, T_DIVERGED, T_LOSS,
                     T_SQUARED, T_WEIGHT, T_WEIGHTED_ABSOLUTE, T_WEIGHTED_CORRECT,
                     T_WEIGHTED_SQUARED)
from .activations import derivative, softmax_backward_row
from .launch import REDUCE_THREADS, line_grid, reduce_grid

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

# The per-element rules of kernels/losses.py, compiled for the device.
_huber = cuda.jit(device=True)(_cpu.huber)
_huber_slope = cuda.jit(device=True)(_cpu.huber_slope)
_sign = cuda.jit(device=True)(_cpu.sign)
_softplus = cuda.jit(device=True)(_cpu.softplus)
_stable_sigmoid = cuda.jit(device=True)(_cpu.stable_sigmoid)


@cuda.jit(device=True)
def _log_sum_exp(out, i):
    """log(sum_j exp(out[i, j])), max-shifted."""
    top = out[i, 0]
    for j in range(1, out.shape[1]):
        top = max(top, out[i, j])
    total = out[i, 0] - out[i, 0]
    for j in range(out.shape[1]):
        total += math.exp(out[i, j] - top)
    return top + math.log(total)


@cuda.jit(device=True)
def _target(y, labels, sample, j, sparse, zero, one):
    """y[sample, j], reading sparse integer labels as one-hot rows."""
    if sparse:
        return one if labels[sample] == j else zero
    return y[sample, j]


@cuda.jit(device=True)
def _argmax(a, i):
    """Index of the first maximum of row i of a (n, units)."""
    best = 0
    for j in range(1, a.shape[1]):
        if a[i, j] > a[i, best]:
            best = j
    return best


@cuda.jit(device=True)
def _row_sum(out, i, zero):
    """S = sum_j out[i, j], in out's dtype."""
    total = zero
    for j in range(out.shape[1]):
        total += out[i, j]
    return total


@cuda.jit(device=True)
def _sample_loss(out, i, y, labels, sample, loss, logits, keep, add, delta, zero, one, eps):
    """L of batch row i (sample ``sample``): summed over outputs for sse and the
    cross-entropies, averaged for mse, mae, huber and binary cross-entropy (as
    Keras). The categorical cross-entropies read out[i] / sum(out[i]) (Keras's
    normalization), or its log-softmax from ``logits``; targets are keep * t + add
    (label smoothing)."""
    sparse = loss == SPARSE_CATEGORICAL_CROSSENTROPY
    units = out.shape[1]
    half = out.dtype.type(0.5)
    total = zero
    if loss == CATEGORICAL_CROSSENTROPY or sparse:
        if logits:
            lse = _log_sum_exp(out, i)
            for j in range(units):
                t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
                if t != 0:
                    total += t * (lse - out[i, j])
            return total
        s = _row_sum(out, i, zero)
        for j in range(units):
            t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
            if t != 0:
                total -= t * math.log(min(max(out[i, j] / s, eps), one - eps))
        return total
    for j in range(units):
        p = out[i, j]
        t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
        if loss == MSE or loss == SSE:
            total += (p - t) * (p - t)
        elif loss == MAE:
            total += abs(p - t)
        elif loss == HUBER:
            total += _huber(p - t, delta, half)
        elif logits:
            total += _softplus(p) - t * p
        else:
            q = min(max(p, eps), one - eps)
            total -= t * math.log(q) + (one - t) * math.log(one - q)
    if loss == SSE:
        return total * half
    return total / units


@cuda.jit(device=True)
def _normalized_xent_delta(d, out, i, y, labels, sample, sparse, row_scale, keep, add, zero,
                           one, eps):
    """d[i] = row_scale * dL/dp for L = -sum_j t_j log(clip(p_j / S)), S = sum_j p_j,
    t_j = keep * y_j + add.

    dL/dp_k = (m - [q_k inside] t_k / q_k) / S with q = p / S, m the sum of t_j over
    the j whose q_j lies inside [eps, 1 - eps] (the clip's derivative is 0 outside).
    """
    units = out.shape[1]
    s = _row_sum(out, i, zero)
    mass = zero
    for j in range(units):
        t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
        q = out[i, j] / s
        if t != 0 and q >= eps and q <= one - eps:
            mass += t
    inverse = row_scale / s
    for j in range(units):
        t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
        q = out[i, j] / s
        if t != 0 and q >= eps and q <= one - eps:
            d[i, j] = inverse * (mass - t / q)
        else:
            d[i, j] = inverse * mass


@cuda.jit(device=True)
def _row_delta(d, out, i, y, labels, sample, loss, logits, activation, row_scale, keep, add,
               delta, zero, one, eps):
    """d[i] = row_scale * dL/dz of row i, collapsing softmax/sigmoid + cross-entropy
    (not from logits)."""
    units = out.shape[1]
    sparse = loss == SPARSE_CATEGORICAL_CROSSENTROPY
    categorical = loss == CATEGORICAL_CROSSENTROPY or sparse
    collapses = not logits and ((activation == SOFTMAX and categorical)
                                or (activation == SIGMOID and loss == BINARY_CROSSENTROPY))
    if not collapses and categorical and not logits:
        _normalized_xent_delta(d, out, i, y, labels, sample, sparse, row_scale, keep, add,
                               zero, one, eps)
    elif categorical and logits:  # softmax(p) * sum(t) - t
        lse = _log_sum_exp(out, i)
        mass = zero
        for j in range(units):
            mass += keep * _target(y, labels, sample, j, sparse, zero, one) + add
        for j in range(units):
            t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
            d[i, j] = row_scale * (math.exp(out[i, j] - lse) * mass - t)
    else:
        for j in range(units):
            p = out[i, j]
            t = keep * _target(y, labels, sample, j, sparse, zero, one) + add
            if loss == MSE:
                grad = (p - t) + (p - t)
            elif loss == SSE or collapses:
                grad = p - t
            elif loss == MAE:
                grad = _sign(p - t, one)
            elif loss == HUBER:
                grad = _huber_slope(p - t, delta)
            elif logits:
                grad = out.dtype.type(_stable_sigmoid(p)) - t
            else:  # binary cross-entropy after a non-sigmoid output
                q = min(max(p, eps), one - eps)
                grad = (q - t) / (q * (one - q))
            d[i, j] = row_scale * grad
    if not collapses:
        if activation == SOFTMAX:
            softmax_backward_row(d, out, i)
        else:
            slope = out.dtype.type(LEAKY_RELU_SLOPE)
            for j in range(units):
                d[i, j] = derivative(d[i, j], out[i, j], activation, zero, one, slope)


@cuda.jit(device=True)
def _row_metrics(stats, out, i, y, labels, sample, w, accuracy, errors, zero, one):
    """stats[S_WEIGHT:, i] = w, correct, mse, mae of row i, unweighted and times w
    (float64)."""
    units = out.shape[1]
    sparse = labels.shape[0] > 0
    stats[S_WEIGHT, i] = w
    correct = 0.0
    if accuracy == SPARSE_ACCURACY:
        if _argmax(out, i) == labels[sample]:
            correct = 1.0
    elif accuracy == CATEGORICAL_ACCURACY:
        if _argmax(out, i) == _argmax(y, sample):
            correct = 1.0
    elif accuracy == BINARY_ACCURACY:
        hits = 0
        for j in range(units):
            t = _target(y, labels, sample, j, sparse, zero, one)
            if (out[i, j] > 0.5) == (t > 0.5):
                hits += 1
        correct = hits / units
    stats[S_CORRECT, i] = correct
    stats[S_WEIGHTED_CORRECT, i] = float(w) * correct
    squared = 0.0
    absolute = 0.0
    if errors:
        for j in range(units):
            e = out[i, j] - _target(y, labels, sample, j, sparse, zero, one)
            squared += float(e * e)
            absolute += float(abs(e))
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
    zero = out.dtype.type(0)
    one = out.dtype.type(1)
    eps = out.dtype.type(PROB_EPSILON)
    delta = out.dtype.type(huber_delta)
    units = out.shape[1]
    keep = one
    add = zero
    if label_smoothing != 0 and loss == BINARY_CROSSENTROPY:
        keep = out.dtype.type(1.0 - label_smoothing)
        add = out.dtype.type(label_smoothing * 0.5)
    elif label_smoothing != 0 and loss == CATEGORICAL_CROSSENTROPY:
        keep = out.dtype.type(1.0 - label_smoothing)
        add = out.dtype.type(label_smoothing * (1.0 / units))
    stats[S_LOSS, i] = w * _sample_loss(out, i, y, labels, sample, loss, logits, keep, add,
                                        delta, zero, one, eps)
    if d.shape[0] > 0:
        scale = 1.0 if loss == SSE else 1.0 / out.shape[0]
        per_output = 1.0 / units
        if loss == SSE or loss == CATEGORICAL_CROSSENTROPY or (
                loss == SPARSE_CATEGORICAL_CROSSENTROPY):
            per_output = 1.0
        row_scale = out.dtype.type(scale * float(w) * per_output)
        _row_delta(d, out, i, y, labels, sample, loss, logits, activation, row_scale, keep,
                   add, delta, zero, one, eps)
    _row_metrics(stats, out, i, y, labels, sample, w, accuracy, errors, zero, one)


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
