"""A group's output deltas, loss and metric sums: row by row, all models in a row.

``losses._output_delta`` and ``_accumulate_metrics`` run one model's rows; called
model by model, every model looked up each sample's target and weight again at
random places (a cache miss each, 8 rows' prefetch ahead): 0.24-0.27 us a model and
batch in isolation and 13% of fit_many's step on 64 x 8-32-32-1 at batch 32 on one
thread. Here each row's target is read once for the block's models, and the sample
weights are stored (N, K), so one cache line holds a row's weights for 8 or 16
models. The per-row rules are the single-model kernels' own (``losses._row_loss_delta``,
``losses._accumulate_row``), with ``rules.output_loss_delta`` inlined here rather than
called, as it runs for every model of the block in each row.
"""
from ._jit import kernel
from .activations import _activation_backward
from .codes import LINEAR, T_LOSS
from .losses import (_AHEAD, _accumulate_row, _collapses, _loss_parts, _row_loss_delta,
                     _smoothing)
from .prefetch import prefetch_row
from .rules import CPU

_categorical = CPU.categorical
_output_loss_delta = CPU.inlined.output_loss_delta
_row_scale = CPU.row_scale


@kernel(inline="always")
def _prefetch_sample(y, labels, weights, sample):
    """Start loading one sample's target and its row of the block's weights."""
    prefetch_row(weights, sample)
    prefetch_row(labels, sample)
    prefetch_row(y, sample)


@kernel(internal=True)
def _group_output_delta(totals, d, out, data, order, codes, activation, block):
    """Output deltas, loss and metric sums of a block's models for one mini-batch.

    d, out: (rows, models * units) wide blocks, model m's columns at m * units,
    out = y_hat; data = (x, y (N, units) or empty, labels (N,) or empty, weights
    (N, K)): row i is sample ``order[i]``; codes = (loss, accuracy, errors) as
    ``train_models``; block = (first, last, active, ...) as ``train_models``'s.
    For each active model k = first + m: d's columns are
    overwritten with dJ/dz (``losses._output_delta``), and totals[k] (float64,
    N_TOTALS) accumulates the batch's weighted loss at T_LOSS (row by row) and its
    metric sums (``losses._accumulate_metrics``); an inactive model's columns of d
    are zeroed.
    """
    _, y, labels, weights = data
    loss, accuracy, errors = codes
    first, last, active = block[0], block[1], block[2]
    code, from_logits, label_smoothing, delta = _loss_parts(loss)
    rows = out.shape[0]
    models = last - first
    units = out.shape[1] // models
    width = out.dtype.type(delta)
    keep, add = _smoothing(code, label_smoothing, units, out)
    collapses = _collapses(code, from_logits, activation)
    sparse = labels.shape[0] > 0
    elementwise = not _categorical(code)
    block_weights = weights[:, first:first + models]
    for i in range(min(rows, _AHEAD)):
        _prefetch_sample(y, labels, block_weights, order[i])
    for i in range(rows):
        if i + _AHEAD < rows:
            _prefetch_sample(y, labels, block_weights, order[i + _AHEAD])
        sample = order[i]
        for m in range(models):
            k = first + m
            if not active[k]:
                d[i, m * units:(m + 1) * units] = 0
                continue
            p = out[i, m * units:(m + 1) * units]
            w = block_weights[sample, m]
            if elementwise:  # inlined: one call a model and row cost 5% of the step
                totals[k, T_LOSS] += w * _output_loss_delta(
                    d[i, m * units:(m + 1) * units], p, y, sample, code, from_logits,
                    collapses, _row_scale(code, w, rows, units, p), keep, add, width)
            else:
                totals[k, T_LOSS] += _row_loss_delta(
                    d[i, m * units:(m + 1) * units], p, y, labels, w, sample, code,
                    from_logits, collapses, keep, add, width, rows)
            _accumulate_row(totals[k], p, y, labels, w, sample, accuracy, errors, sparse)
    if collapses or activation == LINEAR:
        return
    for m in range(models):
        if active[first + m]:
            _activation_backward(d[:, m * units:(m + 1) * units],
                                 out[:, m * units:(m + 1) * units], activation)
