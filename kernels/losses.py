"""Loss values and output deltas for a mini-batch, with cheap metric sums.

``output_delta`` writes d = dJ/dz of the output layer's pre-activation, where J
is the batch loss: the one place the 1/n batch mean lives.
Softmax + (sparse) categorical cross-entropy and sigmoid + binary cross-entropy
collapse to (y_hat - y); every other pairing goes through dL/dy_hat and then the
output activation's derivative (the softmax Jacobian-vector product included).

The (sparse) categorical cross-entropy divides each output row by its sum before the
clip and the log, as Keras 3 does: L = -sum_j t_j log(clip(p_j / S)), S = sum_j p_j.
After a softmax S is 1 and nothing changes; after any other output the loss can no
longer be lowered by raising every output at once.
"""
import math

from ._jit import kernel, python_entry

from .activations import _activation_backward
from .prefetch import prefetch_row
from .codes import (BINARY_ACCURACY, BINARY_CROSSENTROPY, CATEGORICAL_ACCURACY,
                    CATEGORICAL_CROSSENTROPY, MSE, PROB_EPSILON, SIGMOID, SOFTMAX,
                    SPARSE_ACCURACY, SPARSE_CATEGORICAL_CROSSENTROPY, SSE, T_ABSOLUTE,
                    T_CORRECT, T_COUNT, T_SQUARED, T_WEIGHT, T_WEIGHTED_ABSOLUTE,
                    T_WEIGHTED_CORRECT, T_WEIGHTED_SQUARED)

_AHEAD = 8  # rows between a prefetch of a sample's targets and their use


@kernel(inline="always")
def _prefetch_targets(y, labels, weights, sample):
    """Start loading one sample's target and weight (see ``prefetch``); one of y and
    labels is empty, and skipped."""
    prefetch_row(weights, sample)
    prefetch_row(labels, sample)
    prefetch_row(y, sample)


@kernel(inline="always")
def _target(y, labels, sample, j, sparse):
    """y[sample, j], reading sparse integer labels as one-hot rows."""
    if sparse:
        return y.dtype.type(1) if labels[sample] == j else y.dtype.type(0)
    return y[sample, j]


@kernel(internal=True)
def _argmax(row):
    best = 0
    for j in range(1, row.shape[0]):
        if row[j] > row[best]:
            best = j
    return best


@kernel(inline="always")
def _row_sum(p):
    """S = sum_j p[j] of one output row p (units,), in p's dtype."""
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        total += p[j]
    return total


@kernel(inline="always")
def _sample_loss(p, y, labels, sample, loss):
    """L for one sample from its output row p: summed over outputs for sse and the
    cross-entropies, averaged for mse and binary cross-entropy (as Keras). The
    categorical cross-entropies read p / sum(p) (Keras's normalization)."""
    sparse = loss == SPARSE_CATEGORICAL_CROSSENTROPY
    one = p.dtype.type(1)
    eps = p.dtype.type(PROB_EPSILON)
    units = p.shape[0]
    total = p.dtype.type(0)
    s = one
    if loss == CATEGORICAL_CROSSENTROPY or sparse:
        s = _row_sum(p)
    for j in range(units):
        t = _target(y, labels, sample, j, sparse)
        if loss == MSE or loss == SSE:
            total += (p[j] - t) * (p[j] - t)
        elif loss == BINARY_CROSSENTROPY:
            q = min(max(p[j], eps), one - eps)
            total -= t * math.log(q) + (one - t) * math.log(one - q)
        elif t != 0:
            total -= t * math.log(min(max(p[j] / s, eps), one - eps))
    if loss == SSE:
        return total * p.dtype.type(0.5)
    if loss == MSE or loss == BINARY_CROSSENTROPY:
        return total / units
    return total


@kernel(inline="always")
def _normalized_xent_delta(d, p, y, labels, sample, sparse, row_scale):
    """d = row_scale * dL/dp for L = -sum_j t_j log(clip(p_j / S)), S = sum_j p_j.

    d, p: (units,) rows, d overwritten. With q_j = p_j / S and the clip's own
    derivative (1 inside [eps, 1 - eps], 0 outside, as Keras's autodiff):
    dL/dp_k = (m - [q_k inside] t_k / q_k) / S, where m is the sum of t_j over the
    j whose q_j lies inside the clip. Targets summing to 1 with no clip give
    1/S - t_k/p_k.
    """
    one = p.dtype.type(1)
    eps = p.dtype.type(PROB_EPSILON)
    zero = p.dtype.type(0)
    s = _row_sum(p)
    mass = zero
    for j in range(p.shape[0]):
        t = _target(y, labels, sample, j, sparse)
        q = p[j] / s
        if t != 0 and q >= eps and q <= one - eps:
            mass += t
    inverse = row_scale / s
    for j in range(p.shape[0]):
        t = _target(y, labels, sample, j, sparse)
        q = p[j] / s
        inside = t != 0 and q >= eps and q <= one - eps
        d[j] = inverse * (mass - t / q) if inside else inverse * mass


@kernel(internal=True)
def _output_delta(d, out, y, labels, weights, order, loss, activation, batch_rows):
    """Loss of (part of) a mini-batch and its delta at the output pre-activation.

    d, out: (n, units), out = y_hat; row i is sample ``order[i]`` of
    y (N, units) or labels (N,) (sparse losses) and weights (N,).
    d is overwritten with dJ/dz for J = sum_i w_i L_i / batch_rows (Keras's batch
    mean; sse is the seeds' total E, without the division); returns sum_i w_i L_i.
    """
    n, units = out.shape
    scale = 1.0 if loss == SSE else 1.0 / batch_rows
    sparse = loss == SPARSE_CATEGORICAL_CROSSENTROPY
    one = out.dtype.type(1)
    eps = out.dtype.type(PROB_EPSILON)
    collapses = ((activation == SOFTMAX and (loss == CATEGORICAL_CROSSENTROPY or sparse))
                 or (activation == SIGMOID and loss == BINARY_CROSSENTROPY))
    per_output = 1.0 / units if (loss == MSE or loss == BINARY_CROSSENTROPY) else 1.0
    for i in range(min(n, _AHEAD)):
        _prefetch_targets(y, labels, weights, order[i])
    normalizes = not collapses and (loss == CATEGORICAL_CROSSENTROPY or sparse)
    total = 0.0
    for i in range(n):
        if i + _AHEAD < n:
            _prefetch_targets(y, labels, weights, order[i + _AHEAD])
        sample = order[i]
        w = weights[sample]
        total += w * _sample_loss(out[i], y, labels, sample, loss)
        row_scale = out.dtype.type(scale * w * per_output)
        if normalizes:
            _normalized_xent_delta(d[i], out[i], y, labels, sample, sparse, row_scale)
            continue
        for j in range(units):
            p = out[i, j]
            t = _target(y, labels, sample, j, sparse)
            if loss == MSE:
                grad = (p - t) + (p - t)
            elif loss == SSE:
                grad = p - t
            elif collapses:
                grad = p - t
            else:  # binary cross-entropy after a non-sigmoid output
                q = min(max(p, eps), one - eps)
                grad = (q - t) / (q * (one - q))
            d[i, j] = row_scale * grad
    if not collapses:
        _activation_backward(d, out, activation)
    return total


@kernel(internal=True)
def _accumulate_metrics(totals, out, y, labels, weights, order, accuracy, errors):
    """Add a mini-batch's sample weights, accuracy and (if ``errors``) mse/mae sums,
    each both unweighted and weighted by the sample weights.

    totals: float64 slots from ``codes`` (T_WEIGHT, T_CORRECT, T_COUNT,
    T_WEIGHTED_CORRECT, ...).
    """
    n, units = out.shape
    sparse = labels.shape[0] > 0
    for i in range(n):
        sample = order[i]
        w = weights[sample]
        totals[T_WEIGHT] += w
        totals[T_COUNT] += 1
        correct = 0.0
        if accuracy == SPARSE_ACCURACY:
            if _argmax(out[i]) == labels[sample]:
                correct = 1.0
        elif accuracy == CATEGORICAL_ACCURACY:
            if _argmax(out[i]) == _argmax(y[sample]):
                correct = 1.0
        elif accuracy == BINARY_ACCURACY:
            hits = 0
            for j in range(units):
                t = _target(y, labels, sample, j, sparse)
                hits += (out[i, j] > 0.5) == (t > 0.5)
            correct = hits / units
        totals[T_CORRECT] += correct
        totals[T_WEIGHTED_CORRECT] += w * correct
        if errors:
            sq = 0.0
            ab = 0.0
            for j in range(units):
                e = out[i, j] - _target(y, labels, sample, j, sparse)
                sq += e * e
                ab += abs(e)
            totals[T_SQUARED] += sq / units
            totals[T_ABSOLUTE] += ab / units
            totals[T_WEIGHTED_SQUARED] += w * sq / units
            totals[T_WEIGHTED_ABSOLUTE] += w * ab / units


@kernel
def batch_loss(out, y, labels, weights, order, loss):
    """sum_i w_i L_i for one mini-batch, without touching any delta (evaluation)."""
    total = 0.0
    for i in range(out.shape[0]):
        sample = order[i]
        total += weights[sample] * _sample_loss(out[i], y, labels, sample, loss)
    return total


# Python entry points of the kernels above (see ``_jit.python_entry``).
output_delta = python_entry(_output_delta)
accumulate_metrics = python_entry(_accumulate_metrics)
