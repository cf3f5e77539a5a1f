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
delta) that the API passes (``_loss_parts``), or that tuple followed by its
family's flags (``kernel_codes``), with Keras 3's options:
from_logits reads the outputs as logits (a log-softmax or a log-sigmoid, no clip),
label_smoothing moves the targets toward uniform (t (1 - s) + s / units for the
categorical, t (1 - s) + s / 2 for the binary cross-entropy; the sparse one has
none, as in Keras), delta is the Huber loss's. ``mae`` and ``huber`` average over
the outputs, as mse.
"""
from numba.core import types
from numba.extending import overload

from ._jit import kernel, python_entry

from .activations import _activation_backward
from .prefetch import prefetch_row
from .codes import (HUBER_DELTA, NO_ACCURACY, SPARSE_CATEGORICAL_CROSSENTROPY, T_ABSOLUTE,
                    T_CORRECT, T_COUNT, T_SQUARED, T_WEIGHT, T_WEIGHTED_ABSOLUTE,
                    T_WEIGHTED_CORRECT, T_WEIGHTED_SQUARED)
from . import rules
from .rules import CPU

_AHEAD = 8  # rows between a prefetch of a sample's targets and their use


def _loss_parts(loss):
    """(code, from_logits, label_smoothing, delta) of a loss: a bare int code (no
    options, as tests pass it) or that tuple, alone (as the API passes it) or with
    the family flags after it (``kernel_codes``)."""
    if isinstance(loss, tuple):
        return loss[:4]
    return (loss, 0, 0.0, HUBER_DELTA)


@overload(_loss_parts, inline="always")
def _loss_parts_jit(loss):
    if isinstance(loss, types.Integer):
        return lambda loss: (loss, 0, 0.0, HUBER_DELTA)
    return lambda loss: (loss[0], loss[1], loss[2], loss[3])


def _loss_families(loss):
    """(elementwise, categorical): True where the loss may be of that family (the
    cross-entropies are categorical, every other loss elementwise), None where it is
    not; both True unless ``kernel_codes`` gave the flags."""
    return tuple(loss[4:]) if isinstance(loss, tuple) and len(loss) == 6 else (True, True)


@overload(_loss_families, inline="always")
def _loss_families_jit(loss):
    if isinstance(loss, types.BaseTuple) and len(loss) == 6:
        return lambda loss: (loss[4], loss[5])
    return lambda loss: (True, True)


# The per-element and per-row rules, written once in rules.py for the CPU and CUDA
# kernels; what stays here is the batch loop with its prefetches.
_smoothing = CPU.smoothing
_sample_loss_of = CPU.sample_loss
_categorical = CPU.categorical
_xent_loss = CPU.xent_loss
_xent_delta = CPU.xent_delta
_output_loss_delta = CPU.output_loss_delta
_row_scale = CPU.row_scale
_collapses = CPU.collapses
_row_correct = CPU.row_correct
_row_errors = CPU.row_errors


@kernel(inline="always")
def _prefetch_targets(y, labels, weights, sample):
    """Start loading one sample's target and weight (see ``prefetch``); one of y and
    labels is empty, and skipped."""
    prefetch_row(weights, sample)
    prefetch_row(labels, sample)
    prefetch_row(y, sample)


@kernel(inline="always")
def _sample_loss(p, y, labels, sample, loss):
    """L for one sample from its output row p (see ``rules.sample_loss``); loss: a
    code or (code, from_logits, label_smoothing, delta)."""
    code, from_logits, label_smoothing, delta = _loss_parts(loss)
    keep, add = _smoothing(code, label_smoothing, p.shape[0], p)
    return _sample_loss_of(p, y, labels, sample, code, from_logits, keep, add,
                           p.dtype.type(delta))


@kernel(internal=True)
def _output_delta(d, out, y, labels, weights, order, loss, activation, batch_rows,
                  elementwise=True, categorical=True):
    """Loss of (part of) a mini-batch and its delta at the output pre-activation.

    d, out: (n, units), out = y_hat; row i is sample ``order[i]`` of
    y (N, units) or labels (N,) (sparse losses) and weights (N,); loss: a code or
    (code, from_logits, label_smoothing, delta) (see the module docstring).
    d is overwritten with dJ/dz for J = sum_i w_i L_i / batch_rows (Keras's batch
    mean; sse is the seeds' total E, without the division); returns sum_i w_i L_i.
    elementwise, categorical: ``_loss_families``'s flags; the rules of a family
    passed as None are not compiled.
    """
    code, from_logits, label_smoothing, delta = _loss_parts(loss)
    n, units = out.shape
    width = out.dtype.type(delta)
    keep, add = _smoothing(code, label_smoothing, units, out)
    collapses = _collapses(code, from_logits, activation)
    for i in range(min(n, _AHEAD)):
        _prefetch_targets(y, labels, weights, order[i])
    total = 0.0
    for i in range(n):
        if i + _AHEAD < n:
            _prefetch_targets(y, labels, weights, order[i + _AHEAD])
        sample = order[i]
        # Numba drops an ``if x is not None`` body when x is None, and keeps it (as a
        # check) otherwise: each family's rules sit behind their flag.
        if elementwise is not None:
            if categorical is not None:  # either: by the code
                total += _row_loss_delta(d[i], out[i], y, labels, weights[sample], sample,
                                         code, from_logits, collapses, keep, add, width,
                                         batch_rows)
            else:
                total += _elementwise_loss_delta(d[i], out[i], y, weights[sample], sample,
                                                 code, from_logits, collapses, keep, add,
                                                 width, batch_rows)
        elif categorical is not None:
            total += _xent_loss_delta(d[i], out[i], y, labels, weights[sample], sample,
                                      code, from_logits, collapses, keep, add, batch_rows)
    if not collapses:
        _activation_backward(d, out, activation)
    return total


@kernel(inline="always")
def _row_loss_delta(d, p, y, labels, w, sample, code, from_logits, collapses, keep, add,
                    width, batch_rows):
    """w * L of one output row p (units,) of sample ``sample``, weighted w, and its
    delta written to d (units,) (see ``_output_delta``; before the output
    activation's derivative unless ``collapses``)."""
    if not _categorical(code):
        return _elementwise_loss_delta(d, p, y, w, sample, code, from_logits, collapses,
                                       keep, add, width, batch_rows)
    return _xent_loss_delta(d, p, y, labels, w, sample, code, from_logits, collapses, keep,
                            add, batch_rows)


@kernel(inline="always")
def _elementwise_loss_delta(d, p, y, w, sample, code, from_logits, collapses, keep, add,
                            width, batch_rows):
    """``_row_loss_delta`` of a loss that treats the outputs one by one."""
    scale = _row_scale(code, w, batch_rows, p.shape[0], p)
    return w * _output_loss_delta(d, p, y, sample, code, from_logits, collapses, scale,
                                  keep, add, width)


@kernel(inline="always")
def _xent_loss_delta(d, p, y, labels, w, sample, code, from_logits, collapses, keep, add,
                     batch_rows):
    """``_row_loss_delta`` of a (sparse) categorical cross-entropy."""
    scale = _row_scale(code, w, batch_rows, p.shape[0], p)
    sparse = code == SPARSE_CATEGORICAL_CROSSENTROPY
    loss = w * _xent_loss(p, y, labels, sample, sparse, from_logits, keep, add)
    _xent_delta(d, p, y, labels, sample, sparse, from_logits, collapses, scale, keep, add)
    return loss


def kernel_codes(codes):
    """A model's (loss, accuracy, errors) codes for the kernels of one model, with
    what the fit does not use as None, so that they compile without it (where a
    kernel's argument is None, Numba drops the branches that rules out before typing).
    Cold first fits, each step against the one before:

    - accuracy None when it logs no metric: ``_accumulate_metrics`` then compiles only
      the counts that the mean loss needs (the seed network 8.1-8.2 -> 7.4-7.5 s);
    - the loss followed by its family's flags (``_loss_families``): a cross-entropy
      fit compiles no elementwise loss and an mse fit no cross-entropy (the seed
      network 7.6-7.7 -> 7.4 s, 8-32-32-1 with mse 6.4-6.5 -> 5.8 s);
    - from_logits None where the loss reads probabilities: the cross-entropies'
      logits paths are not compiled (the seed network 6.8-6.9 -> 6.6-6.7 s).
    """
    loss, accuracy, errors = codes
    code, from_logits, label_smoothing, delta = _loss_parts(loss)
    categorical = rules.categorical(code)  # the plain rule: no compile from Python
    loss = (code, from_logits or None, label_smoothing, delta,
            None if categorical else True, True if categorical else None)
    if accuracy == NO_ACCURACY and not errors:
        return loss, None, False
    return loss, accuracy, errors


@kernel(internal=True)
def _accumulate_metrics(totals, out, y, labels, weights, order, accuracy, errors):
    """Add a mini-batch's sample weights, accuracy and (if ``errors``) mse/mae sums,
    each both unweighted and weighted by the sample weights; with accuracy None
    (``kernel_codes``), only the weights and the count.

    totals: float64 slots from ``codes`` (T_WEIGHT, T_CORRECT, T_COUNT,
    T_WEIGHTED_CORRECT, ...).
    """
    if accuracy is None:  # pruned before typing: the rest compiles only for metrics
        for i in range(out.shape[0]):
            totals[T_WEIGHT] += weights[order[i]]
            totals[T_COUNT] += 1
        return
    sparse = labels.shape[0] > 0
    for i in range(out.shape[0]):
        sample = order[i]
        _accumulate_row(totals, out[i], y, labels, weights[sample], sample, accuracy,
                        errors, sparse)


@kernel(inline="always")
def _accumulate_row(totals, p, y, labels, w, sample, accuracy, errors, sparse):
    """``_accumulate_metrics`` for one output row p (units,) of sample ``sample``,
    weighted w."""
    units = p.shape[0]
    totals[T_WEIGHT] += w
    totals[T_COUNT] += 1
    correct = _row_correct(p, y, labels, sample, accuracy, sparse)
    totals[T_CORRECT] += correct
    totals[T_WEIGHTED_CORRECT] += w * correct
    if errors:
        sq, ab = _row_errors(p, y, labels, sample, sparse)
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
