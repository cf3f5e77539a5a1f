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

A loss is a bare integer code or the tuple (code, from_logits, label_smoothing,
delta) that the API passes (``_loss_parts``), with Keras 3's options:
from_logits reads the outputs as logits (a log-softmax or a log-sigmoid, no clip),
label_smoothing moves the targets toward uniform (t (1 - s) + s / units for the
categorical, t (1 - s) + s / 2 for the binary cross-entropy; the sparse one has
none, as in Keras), delta is the Huber loss's. ``mae`` and ``huber`` average over
the outputs, as mse.
"""
import math

from numba.core import types
from numba.extending import overload

from ._jit import kernel, python_entry

from .activations import _activation_backward
from .prefetch import prefetch_row
from .codes import (BINARY_ACCURACY, BINARY_CROSSENTROPY, CATEGORICAL_ACCURACY,
                    CATEGORICAL_CROSSENTROPY, HUBER, HUBER_DELTA, MAE, MSE, PROB_EPSILON,
                    SIGMOID, SOFTMAX,
                    SPARSE_ACCURACY, SPARSE_CATEGORICAL_CROSSENTROPY, SSE, T_ABSOLUTE,
                    T_CORRECT, T_COUNT, T_SQUARED, T_WEIGHT, T_WEIGHTED_ABSOLUTE,
                    T_WEIGHTED_CORRECT, T_WEIGHTED_SQUARED)

_AHEAD = 8  # rows between a prefetch of a sample's targets and their use


def _loss_parts(loss):
    """(code, from_logits, label_smoothing, delta) of a loss: a bare int code (no
    options, as tests pass it) or that tuple itself (as the API passes it)."""
    if isinstance(loss, tuple):
        return loss
    return (loss, 0, 0.0, HUBER_DELTA)


@overload(_loss_parts, inline="always")
def _loss_parts_jit(loss):
    if isinstance(loss, types.Integer):
        return lambda loss: (loss, 0, 0.0, HUBER_DELTA)
    return lambda loss: loss


# Per-element rules, plain functions: compiled inline here and as CUDA device
# functions by kernels/cuda/losses.py, so each is written once.
def huber(e, delta, half):
    """Huber's term of an error e: e^2 / 2 where |e| <= delta, else
    delta |e| - delta^2 / 2 (``half`` is 0.5 in e's dtype)."""
    a = abs(e)
    return half * e * e if a <= delta else delta * a - half * delta * delta


def huber_slope(e, delta):
    """d huber / de: e clipped to [-delta, delta]."""
    return min(max(e, -delta), delta)


def sign(e, one):
    """d|e| / de: -1, 0 or 1 (``one`` in e's dtype; 0 at 0, as JAX's abs)."""
    return one if e > 0 else (-one if e < 0 else one - one)


def softplus(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return max(x, x - x) + math.log1p(math.exp(-abs(x)))


def stable_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for either sign."""
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


_huber = kernel(inline="always")(huber)
_huber_slope = kernel(inline="always")(huber_slope)
_sign = kernel(inline="always")(sign)
_softplus = kernel(inline="always")(softplus)
_stable_sigmoid = kernel(inline="always")(stable_sigmoid)


@kernel(inline="always")
def _smoothing(code, label_smoothing, units, dtype):
    """(keep, add): Keras's smoothed target is keep * t + add; (1, 0) when the loss
    has no smoothing (exact: 1 * t + 0 is t)."""
    if label_smoothing == 0 or (code != CATEGORICAL_CROSSENTROPY
                                and code != BINARY_CROSSENTROPY):
        return dtype(1), dtype(0)
    share = 0.5 if code == BINARY_CROSSENTROPY else 1.0 / units
    return dtype(1.0 - label_smoothing), dtype(label_smoothing * share)


@kernel(inline="always")
def _log_sum_exp(p):
    """log(sum_j exp(p[j])) of one row, max-shifted."""
    top = p[0]
    for j in range(1, p.shape[0]):
        top = max(top, p[j])
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        total += math.exp(p[j] - top)
    return top + math.log(total)


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
    cross-entropies, averaged for mse, mae, huber and binary cross-entropy (as
    Keras). The categorical cross-entropies read p / sum(p) (Keras's normalization),
    or log_softmax(p) from logits."""
    code, from_logits, label_smoothing, delta = _loss_parts(loss)
    sparse = code == SPARSE_CATEGORICAL_CROSSENTROPY
    dtype = p.dtype.type
    one = dtype(1)
    half = dtype(0.5)
    eps = dtype(PROB_EPSILON)
    units = p.shape[0]
    keep, add = _smoothing(code, label_smoothing, units, dtype)
    total = dtype(0)
    if code == CATEGORICAL_CROSSENTROPY or sparse:
        if from_logits:
            lse = _log_sum_exp(p)
            for j in range(units):
                t = keep * _target(y, labels, sample, j, sparse) + add
                if t != 0:
                    total += t * (lse - p[j])
            return total
        s = _row_sum(p)
        for j in range(units):
            t = keep * _target(y, labels, sample, j, sparse) + add
            if t != 0:
                total -= t * math.log(min(max(p[j] / s, eps), one - eps))
        return total
    width = dtype(delta)
    for j in range(units):
        t = keep * _target(y, labels, sample, j, sparse) + add
        e = p[j] - t
        if code == MSE or code == SSE:
            total += e * e
        elif code == MAE:
            total += abs(e)
        elif code == HUBER:
            total += _huber(e, width, half)
        elif from_logits:
            total += _softplus(p[j]) - t * p[j]
        else:
            q = min(max(p[j], eps), one - eps)
            total -= t * math.log(q) + (one - t) * math.log(one - q)
    if code == SSE:
        return total * half
    return total / units


@kernel(inline="always")
def _normalized_xent_delta(d, p, y, labels, sample, sparse, row_scale, keep, add):
    """d = row_scale * dL/dp for L = -sum_j t_j log(clip(p_j / S)), S = sum_j p_j,
    t_j = keep * y_j + add (label smoothing).

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
        t = keep * _target(y, labels, sample, j, sparse) + add
        q = p[j] / s
        if t != 0 and q >= eps and q <= one - eps:
            mass += t
    inverse = row_scale / s
    for j in range(p.shape[0]):
        t = keep * _target(y, labels, sample, j, sparse) + add
        q = p[j] / s
        inside = t != 0 and q >= eps and q <= one - eps
        d[j] = inverse * (mass - t / q) if inside else inverse * mass


@kernel(inline="always")
def _logits_xent_delta(d, p, y, labels, sample, sparse, row_scale, keep, add):
    """d = row_scale * dL/dp for L = -sum_j t_j log_softmax(p)_j (from logits):
    dL/dp_k = softmax(p)_k * sum_j t_j - t_k. d, p: (units,) rows, d overwritten."""
    lse = _log_sum_exp(p)
    mass = p.dtype.type(0)
    for j in range(p.shape[0]):
        mass += keep * _target(y, labels, sample, j, sparse) + add
    for j in range(p.shape[0]):
        t = keep * _target(y, labels, sample, j, sparse) + add
        d[j] = row_scale * (math.exp(p[j] - lse) * mass - t)


@kernel(internal=True)
def _output_delta(d, out, y, labels, weights, order, loss, activation, batch_rows):
    """Loss of (part of) a mini-batch and its delta at the output pre-activation.

    d, out: (n, units), out = y_hat; row i is sample ``order[i]`` of
    y (N, units) or labels (N,) (sparse losses) and weights (N,); loss: a code or
    (code, from_logits, label_smoothing, delta) (see the module docstring).
    d is overwritten with dJ/dz for J = sum_i w_i L_i / batch_rows (Keras's batch
    mean; sse is the seeds' total E, without the division); returns sum_i w_i L_i.
    """
    code, from_logits, label_smoothing, delta = _loss_parts(loss)
    n, units = out.shape
    dtype = out.dtype.type
    scale = 1.0 if code == SSE else 1.0 / batch_rows
    sparse = code == SPARSE_CATEGORICAL_CROSSENTROPY
    categorical = code == CATEGORICAL_CROSSENTROPY or sparse
    one = dtype(1)
    eps = dtype(PROB_EPSILON)
    width = dtype(delta)
    keep, add = _smoothing(code, label_smoothing, units, dtype)
    collapses = not from_logits and ((activation == SOFTMAX and categorical)
                                     or (activation == SIGMOID and code == BINARY_CROSSENTROPY))
    per_output = 1.0 if (categorical or code == SSE) else 1.0 / units
    for i in range(min(n, _AHEAD)):
        _prefetch_targets(y, labels, weights, order[i])
    normalizes = not collapses and categorical and not from_logits
    total = 0.0
    for i in range(n):
        if i + _AHEAD < n:
            _prefetch_targets(y, labels, weights, order[i + _AHEAD])
        sample = order[i]
        w = weights[sample]
        total += w * _sample_loss(out[i], y, labels, sample, loss)
        row_scale = dtype(scale * w * per_output)
        if normalizes:
            _normalized_xent_delta(d[i], out[i], y, labels, sample, sparse, row_scale, keep,
                                   add)
            continue
        if categorical and from_logits:
            _logits_xent_delta(d[i], out[i], y, labels, sample, sparse, row_scale, keep, add)
            continue
        for j in range(units):
            p = out[i, j]
            t = keep * _target(y, labels, sample, j, sparse) + add
            if code == MSE:
                grad = (p - t) + (p - t)
            elif code == SSE or collapses:
                grad = p - t
            elif code == MAE:
                grad = _sign(p - t, one)
            elif code == HUBER:
                grad = _huber_slope(p - t, width)
            elif from_logits:  # binary cross-entropy from logits
                grad = dtype(_stable_sigmoid(p)) - t
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
