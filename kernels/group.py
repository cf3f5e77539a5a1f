"""Many models of one architecture trained together: the model axis.

K models that see the same mini-batches share one set of flat buffers laid out
layer by layer, each layer's K blocks back to back:

  params = for each layer l: W_l of models 0..K-1 (K * units_l, inputs_l), then
           b_l of models 0..K-1 (K * units_l,) when the layer has a bias
  grads, state[0], state[1] (and state[2] for amsgrad or centered RMSprop) = the
  same layout

So the first layer of any run of consecutive models is ONE contiguous
(models * units, inputs) matrix: its forward product and its weight gradient over a
shared batch are one wide product each, the inputs read once for all those models.
The deeper layers are block-diagonal and run model by model, on column blocks of a
wide workspace, so every layer's bias and activation still run as one pass over all
the models' columns.

``train_models`` trains one block of models (``first``..``last``) on its own thread:
threads take disjoint blocks and never wait for each other, and a model's
arithmetic does not depend on which block it is in, except for the wide product's
rounding. Each model has its own optimizer code (SGD, Nesterov, Adam, RMSprop),
hyperparameters, learning-rate schedule, clipping, L2 and sample weights; the
per-element rules are ``optimizers._apply_update``'s, the same as one model's.

Workspace of a thread for a block of M models and ``capacity`` rows (acts and
deltas alike): block 0 holds the batch's inputs (capacity, inputs) (unused in
deltas), block l >= 1 layer l - 1's output (capacity, M * units_l), model m's
columns at m * units_l; ``workspace_size`` gives the length.
"""
import math

import numpy as np

from ._jit import kernel
from .activations import _activation_backward, _bias_activation
from .blas import _fixed_gemm, _gemm, small_product
from .codes import SOFTMAX, T_BATCHES, T_DIVERGED, T_LOSS
from .dense import NO, YES, bias_gradient
from .dropout import _drop_block, _has_dropout, _undrop_block
from .fpmode import flush_denormals, restore_mode
from .group_loss import _group_output_delta
from .network import (ONE, ZERO, _add_l2_gradient, _copy, _gather_rows, _l2_penalty,
                      _third_slot)
from .optimizers import (H_CLIPNORM, H_CLIPVALUE, H_GLOBAL_CLIPNORM, _apply_update,
                         _clip_by_norm, _clip_values, _global_scale, _scale_by, _sum_squares)

# The per-model products of a deeper layer, in ``product_table``'s order.
FORWARD, WEIGHT_GRADIENT, INPUT_DELTA = 0, 1, 2
# Layer 0's wide products up to this many multiply-adds run through generated
# kernels (4x the 65,536 of a block of 8 x 8-32-32-1 at batch 32): MKL generates
# them without the cache blocking a large product needs (784 inputs, say).
_WIDE_GENERATED_LIMIT = 2 ** 18


@kernel(internal=True)
def _layer_offset(sizes, has_bias, layer, models):
    """Where layer ``layer``'s block starts in the group's flat buffers."""
    offset = 0
    for l in range(layer):
        offset += models * (sizes[l + 1] * sizes[l] + (sizes[l + 1] if has_bias[l] else 0))
    return offset


@kernel(inline="always")
def _group_layer(buffer, sizes, has_bias, layer, models):
    """Views (W of all models (models * units, inputs), b of all models or empty)."""
    offset = _layer_offset(sizes, has_bias, layer, models)
    inputs, units = sizes[layer], sizes[layer + 1]
    size = models * units * inputs
    w = buffer[offset:offset + size].reshape((models * units, inputs))
    b = buffer[offset + size:offset + size + (models * units if has_bias[layer] else 0)]
    return w, b


@kernel(inline="always")
def _wide_rows(buffer, sizes, layer, rows, capacity, block_models):
    """Rows 0..rows of workspace block ``layer`` for a block of ``block_models``,
    C-contiguous: (rows, inputs) for layer 0, else (rows, block_models * units_{layer})."""
    offset = 0
    for l in range(layer):
        offset += capacity * (sizes[0] if l == 0 else block_models * sizes[l])
    width = sizes[0] if layer == 0 else block_models * sizes[layer]
    return buffer[offset:offset + rows * width].reshape((rows, width))


@kernel(inline="always")
def _wide_epilogue(z, b, activation, units):
    """Bias and activation over a wide block (rows, models * units): elementwise ones
    in one vectorized pass over all the models' columns, softmax model by model."""
    if activation == SOFTMAX:
        for m in range(z.shape[1] // units):
            _bias_activation(z[:, m * units:(m + 1) * units], b[m * units:(m + 1) * units]
                             if b.shape[0] > 0 else b, activation)
    else:
        _bias_activation(z, b, activation)


@kernel(inline="always")
def _wide_activation_backward(d, a, activation, units):
    """d *= f'(z) over a wide block, as ``_wide_epilogue``: one pass, or model by model
    for softmax (its Jacobian mixes a model's units). Per-model calls on column
    blocks cost 5x more for relu: a strided row does not vectorize."""
    if activation == SOFTMAX:
        for m in range(d.shape[1] // units):
            _activation_backward(d[:, m * units:(m + 1) * units],
                                 a[:, m * units:(m + 1) * units], activation)
    else:
        _activation_backward(d, a, activation)


@kernel(inline="always")
def _model_spec(dropout, k):
    """Model k's dropout spec (see ``fastnn.kernels.dropout``) out of the group's."""
    blocks, rates, modes, keys, _ = dropout
    return blocks, rates[k], modes, keys[k]


@kernel(inline="always")
def _drop_models(a, dropout, block, batch, first, active, units):
    """Each active model's dropout of workspace block ``block`` on its columns of a
    wide block a (rows, models * units)."""
    for m in range(a.shape[1] // units):
        k = first + m
        if active[k] and _has_dropout(dropout, block):
            _drop_block(a[:, m * units:(m + 1) * units], _model_spec(dropout, k), block,
                        dropout[4][k] + batch, ZERO, ZERO)


@kernel(inline="always")
def _masked_inputs(out, inputs, dropout, k, batch):
    """out = model k's dropout of the batch's inputs (both (rows, inputs))."""
    _copy(out, inputs)
    _drop_block(out, _model_spec(dropout, k), ZERO, dropout[4][k] + batch, ZERO, ZERO)


@kernel(inline="always")
def _model_variable(buffer, sizes, has_bias, models, model, layer, bias):
    """Model ``model``'s W (bias False) or b (bias True, empty without one) of layer
    ``layer``, flat, in the group's layout."""
    offset = _layer_offset(sizes, has_bias, layer, models)
    units, inputs = sizes[layer + 1], sizes[layer]
    if not bias:
        first = offset + model * units * inputs
        return buffer[first:first + units * inputs]
    first = offset + models * units * inputs + model * units
    return buffer[first:first + (units if has_bias[layer] else 0)]


@kernel(internal=True)
def _clip_model_gradients(grads, sizes, has_bias, models, model, hyper, clip):
    """Clip one model's gradient as ``optimizers._clip_gradients`` does for one model:
    per variable by clipnorm, over all its variables by global_clipnorm, or by value.
    clip: ``update_paths``'s; None compiles nothing."""
    if clip is None:
        return
    clipnorm, clipvalue = hyper[H_CLIPNORM], hyper[H_CLIPVALUE]
    global_clipnorm = hyper[H_GLOBAL_CLIPNORM]
    if not (clipnorm > 0 or clipvalue > 0 or global_clipnorm > 0):
        return
    total = 0.0
    for layer in range(sizes.shape[0] - 1):
        for which in range(2):  # W, then b
            g = _model_variable(grads, sizes, has_bias, models, model, layer, which == 1)
            if clipnorm > 0:
                _clip_by_norm(g, clipnorm)
            elif global_clipnorm > 0:
                total += _sum_squares(g)
            else:
                _clip_values(g, clipvalue)
    if clipnorm > 0 or not global_clipnorm > 0:
        return
    scale = grads.dtype.type(_global_scale(total, float(global_clipnorm)))
    for layer in range(sizes.shape[0] - 1):
        for which in range(2):
            _scale_by(_model_variable(grads, sizes, has_bias, models, model, layer,
                                      which == 1), scale)


@kernel(inline="always")
def _model_update(params, grads, state, sizes, has_bias, models, model, code, hyper, lr,
                  step_size, paths):
    """Apply one model's step to every layer (its W and b blocks)."""
    for layer in range(sizes.shape[0] - 1):
        offset = _layer_offset(sizes, has_bias, layer, models)
        units, inputs = sizes[layer + 1], sizes[layer]
        first = offset + model * units * inputs
        last = first + units * inputs
        _apply_update(params[first:last], grads[first:last], state[0, first:last],
                      state[1, first:last], _third_slot(state, first, last), code, hyper, lr,
                      step_size, paths)
        if has_bias[layer]:
            first = offset + models * units * inputs + model * units
            last = first + units
            _apply_update(params[first:last], grads[first:last], state[0, first:last],
                          state[1, first:last], _third_slot(state, first, last), code, hyper,
                          lr, step_size, paths)


@kernel
def train_models(totals, net, buffers, data, order, batch_size, block, codes, optimizer,
                 dropout):
    """Train models ``first``..``last`` of a group on the samples ``order`` in
    mini-batches of ``batch_size`` (the last may be partial).

    totals (K, N_TOTALS) float64, accumulated per model (loss, metrics, batches);
    net = (sizes (L+1,), activations (L,), has_bias (L,), l2 (K, L) float64);
    buffers = (params (K*P,), grads (K*P,), state (2 or 3, K*P), acts (C,), deltas (C,)),
    the workspaces this thread's own, C >= ``workspace_size(sizes, capacity, M)``
    for capacity = min(batch_size, n) and M = last - first;
    data = (x (N, inputs), y (N, units) or empty, labels (N,) or empty,
    weights (N, K)); block = (first, last, active (K,) uint8, products): models
    whose flag is 0 are skipped, and products = ``product_table(...)`` for the block;
    a model whose batch loss turns non-finite gets 0 there and
    totals[model, T_DIVERGED] = 1, and is left as it was after its last good step;
    codes = (loss, accuracy, errors);
    optimizer = (codes (K,) int64, hyper (K, N_HYPER), rates (K, n_batches, 2), paths
    (``optimizers.update_paths`` of all K));
    dropout = (blocks (D,), rates (K, D), modes (D,), keys (K, D), steps (K,)): each
    model's dropout spec (``fastnn.kernels.dropout``) and the training step of its
    first batch here. With dropout on the inputs, layer 0 runs model by model on
    each model's masked copy of them (in the deltas' block 0, otherwise unused).
    """
    params, grads, state, acts, deltas = buffers
    x = data[0]
    sizes, activations, has_bias, l2 = net
    first, last, active, products = block
    optimizer_codes, hyper, rates, paths = optimizer
    n_layers = activations.shape[0]
    models = totals.shape[0]
    block_models = last - first
    n = order.shape[0]
    capacity = min(batch_size, n)
    mode = flush_denormals()
    for batch, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        rows = stop - start
        variant = 0 if rows == products[0, 0, 0, 0] else 1
        batch_order = order[start:stop]
        inputs = _wide_rows(acts, sizes, ZERO, rows, capacity, block_models)
        _gather_rows(inputs, x, batch_order)
        # Forward. Layer 0 of the whole block: one product over the block's rows of W0.
        units = sizes[1]
        w0, b0 = _group_layer(params, sizes, has_bias, ZERO, models)
        b0_block = b0[first * units:last * units] if has_bias[0] else b0
        a = _wide_rows(acts, sizes, ONE, rows, capacity, block_models)
        masked = _wide_rows(deltas, sizes, ZERO, rows, capacity, block_models)
        drops_inputs = _has_dropout(dropout, ZERO)
        if drops_inputs:
            for m in range(block_models):
                k = first + m
                if active[k]:
                    _masked_inputs(masked, inputs, dropout, k, batch)
                    _gemm(a[:, m * units:(m + 1) * units], masked,
                          w0[k * units:(k + 1) * units], NO, YES, 1.0, 0.0)
        else:
            _fixed_gemm(a, inputs, w0[first * units:last * units], NO, YES,
                        products[variant, 0, FORWARD], rows)
        _wide_epilogue(a, b0_block, activations[0], units)
        _drop_models(a, dropout, ONE, batch, first, active, units)
        for layer in range(1, n_layers):
            inputs_l, units = sizes[layer], sizes[layer + 1]
            w, b = _group_layer(params, sizes, has_bias, layer, models)
            out = _wide_rows(acts, sizes, layer + 1, rows, capacity, block_models)
            for m in range(block_models):
                if active[first + m]:
                    k = first + m
                    _fixed_gemm(out[:, m * units:(m + 1) * units],
                                a[:, m * inputs_l:(m + 1) * inputs_l],
                                w[k * units:(k + 1) * units], NO, YES,
                                products[variant, layer, FORWARD], rows)
            b_block = b[first * units:last * units] if has_bias[layer] else b
            _wide_epilogue(out, b_block, activations[layer], units)
            if layer < n_layers - 1:
                _drop_models(out, dropout, layer + 1, batch, first, active, units)
            a = out
        # Output deltas, loss and metrics of the block into the last workspace block.
        d_out = _wide_rows(deltas, sizes, n_layers, rows, capacity, block_models)
        _group_output_delta(totals, d_out, a, data, batch_order, codes,
                            activations[n_layers - 1], block)
        # Backward through layers L-1 .. 1: the products model by model, the bias
        # gradients and activation derivatives over the whole block.
        for layer in range(n_layers - 1, 0, -1):
            inputs_l, units = sizes[layer], sizes[layer + 1]
            w, _ = _group_layer(params, sizes, has_bias, layer, models)
            dw, db = _group_layer(grads, sizes, has_bias, layer, models)
            dout = _wide_rows(deltas, sizes, layer + 1, rows, capacity, block_models)
            x_l = _wide_rows(acts, sizes, layer, rows, capacity, block_models)
            dx = _wide_rows(deltas, sizes, layer, rows, capacity, block_models)
            for m in range(block_models):
                k = first + m
                if not active[k]:
                    dx[:, m * inputs_l:(m + 1) * inputs_l] = 0
                    continue
                d_m = dout[:, m * units:(m + 1) * units]
                _fixed_gemm(dw[k * units:(k + 1) * units], d_m,
                            x_l[:, m * inputs_l:(m + 1) * inputs_l], YES, NO,
                            products[variant, layer, WEIGHT_GRADIENT], rows)
                _fixed_gemm(dx[:, m * inputs_l:(m + 1) * inputs_l], d_m,
                            w[k * units:(k + 1) * units], NO, NO,
                            products[variant, layer, INPUT_DELTA], rows)
            if has_bias[layer]:
                bias_gradient(db[first * units:last * units], dout)
            if _has_dropout(dropout, layer):
                for m in range(block_models):
                    k = first + m
                    if active[k]:
                        cols = slice(m * inputs_l, (m + 1) * inputs_l)
                        _undrop_block(dx[:, cols], x_l[:, cols], _model_spec(dropout, k), layer,
                                      dropout[4][k] + batch, ZERO, activations[layer - 1])
            else:
                _wide_activation_backward(dx, x_l, activations[layer - 1], inputs_l)
        # Layer 0 of the whole block: one product for every model's weight gradient.
        units = sizes[1]
        dw0, db0 = _group_layer(grads, sizes, has_bias, ZERO, models)
        d1 = _wide_rows(deltas, sizes, ONE, rows, capacity, block_models)
        if drops_inputs:
            for m in range(block_models):
                k = first + m
                if active[k]:
                    _masked_inputs(masked, inputs, dropout, k, batch)
                    _gemm(dw0[k * units:(k + 1) * units], d1[:, m * units:(m + 1) * units],
                          masked, YES, NO, 1.0, 0.0)
        else:
            _fixed_gemm(dw0[first * units:last * units], d1, inputs, YES, NO,
                        products[variant, 0, WEIGHT_GRADIENT], rows)
        if has_bias[0]:
            bias_gradient(db0[first * units:last * units], d1)
        # L2, divergence, and each model's step.
        for m in range(block_models):
            k = first + m
            if not active[k]:
                continue
            penalty = 0.0
            for layer in range(n_layers):
                if l2[k, layer] != 0:
                    units = sizes[layer + 1]
                    w, _ = _group_layer(params, sizes, has_bias, layer, models)
                    dw, _ = _group_layer(grads, sizes, has_bias, layer, models)
                    penalty += _l2_penalty(w[k * units:(k + 1) * units], l2[k, layer])
                    _add_l2_gradient(dw[k * units:(k + 1) * units],
                                     w[k * units:(k + 1) * units], l2[k, layer])
            totals[k, T_LOSS] += penalty * rows
            # Losses are >= 0: the running sum turns non-finite exactly when a batch does.
            if not math.isfinite(totals[k, T_LOSS]):
                totals[k, T_DIVERGED] = 1.0
                active[k] = 0
                continue
            _clip_model_gradients(grads, sizes, has_bias, models, k, hyper[k], paths[3])
            _model_update(params, grads, state, sizes, has_bias, models, k,
                          optimizer_codes[k], hyper[k], rates[k, batch, 0],
                          rates[k, batch, 1], paths)
            totals[k, T_BATCHES] += 1
    restore_mode(mode)



def workspace_size(sizes, capacity, block_models):
    """Values in each of a thread's two workspaces (see the module docstring)."""
    return int(capacity) * (int(sizes[0]) + int(block_models) * int(sum(sizes[1:])))


def product_table(sizes, dtype, block_models, full_rows, last_rows):
    """The generated kernels of a block's products (see ``blas.small_product``):
    int64 (2, L, 3, 3), [batch variant, layer, product] = (rows, kernel, jitter),
    variant 0 for batches of ``full_rows`` rows and 1 for a last batch of
    ``last_rows`` (0: none); kernel 0 where there is none (layer 0's input delta,
    or MKL absent), so the kernel calls the general GEMM.

    Layer 0's two wide products (all the block's models at once) get generated
    kernels too: for a block of 8 models of 8-32-32-1 at batch 32 (32 x 256 x 8
    and 256 x 8 x 32) the pair took 0.52-0.57 us a model against 0.78-0.90 through
    the general GEMM, with the same bits."""
    n_layers = len(sizes) - 1
    table = np.zeros((2, n_layers, 3, 3), dtype=np.int64)
    for variant, rows in enumerate((full_rows, last_rows)):
        table[variant, :, :, 0] = rows
        if rows <= 0:
            continue
        inputs, width = int(sizes[0]), block_models * int(sizes[1])
        if rows * width * inputs <= _WIDE_GENERATED_LIMIT:
            table[variant, 0, FORWARD] = (rows, *small_product(
                np.dtype(dtype).name, False, True, rows, width, inputs, inputs, inputs, width))
            table[variant, 0, WEIGHT_GRADIENT] = (rows, *small_product(
                np.dtype(dtype).name, True, False, width, inputs, rows, width, inputs, inputs))
        for layer in range(1, n_layers):
            inputs, units = int(sizes[layer]), int(sizes[layer + 1])
            a_width, out_width = block_models * inputs, block_models * units
            shapes = {FORWARD: (False, True, rows, units, inputs, a_width, inputs, out_width),
                      WEIGHT_GRADIENT: (True, False, units, inputs, rows, out_width, a_width,
                                        inputs),
                      INPUT_DELTA: (False, False, rows, inputs, units, out_width, inputs,
                                    a_width)}
            for product, shape in shapes.items():
                table[variant, layer, product] = (rows, *small_product(np.dtype(dtype).name,
                                                                       *shape))
    return table
