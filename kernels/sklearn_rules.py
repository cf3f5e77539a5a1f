"""scikit-learn's MLP training rules over fastnn's flat buffers (``fastnn.sklearn``).

The layout is fastnn's (``network``): ``params`` holds each layer's W (units, inputs)
then b (units,), the workspace holds ``capacity`` rows per layer. What differs from
``network.train_epochs`` is the objective and the update, which follow
scikit-learn 1.9's ``MLPClassifier``/``MLPRegressor`` term by term:

  J = sum_i s_i L_i / S + alpha / (2 S) * sum_l |W_l|^2       (S = sum_i s_i of the batch)
  dJ/dW = (A^T D + alpha * W) / S,  dJ/db = sum_i D_i / S,  D = s_i * (y_hat - y)

at the output (every pairing here is canonical: softmax + log loss, logistic +
binary log loss, identity + half squared error, exp + half Poisson deviance), and
the gradients of the lower layers by the chain rule from D. Probabilities are
clipped to [eps, 1 - eps] of the dtype inside the logs only. The L2 penalty
excludes biases and is divided by the batch's weight sum, so a last, partial batch
gets a larger share: this is why fastnn's constant per-layer L2 cannot express it.

Updates, as scikit-learn's ``SGDOptimizer`` and ``AdamOptimizer``::

    u = momentum * v - lr * g; v = u; (nesterov: u = momentum * v - lr * g); w += u
    m = b1 * m + (1 - b1) * g; s = b2 * s + (1 - b2) * g^2
    w += -(lr * sqrt(1 - b2^t) / (1 - b1^t)) * m / (sqrt(s) + eps)

Serial: one thread runs the batch loop; the matrix products are BLAS calls.
"""
import math

import numpy as np

from ._jit import FASTMATH, kernel
from .activations import _activation_backward
from .blas import _gemm
from .dense import NO, YES
from .fpmode import flush_denormals, restore_mode
from .network import ZERO, _capacity, _gather_rows, _layer_params, _layer_rows, forward

# Loss codes (each fixes the output activation too).
SQUARED_ERROR = 0    # identity output
POISSON = 1          # exp output (the network's last layer is linear; exp applied here)
LOG_LOSS = 2         # softmax output
BINARY_LOG_LOSS = 3  # logistic output, one column per label

# Update rules.
SGD = 0
ADAM = 1

# Slots of the float64 ``hyper`` array.
(H_LEARNING_RATE, H_MOMENTUM, H_NESTEROV, H_BETA_1, H_BETA_2, H_EPSILON,
 H_ALPHA) = range(7)
N_HYPER = 7


@kernel(internal=True)
def _gather(out, x, csr, order):
    """out[i] = row order[i] of the input: dense x (N, features), or when csr's
    indptr is not empty, the CSR matrix (data, indices, indptr) densified."""
    data, indices, indptr = csr
    if indptr.shape[0] == 0:
        _gather_rows(out, x, order)
        return
    zero = out.dtype.type(0)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = zero
        row = order[i]
        for k in range(indptr[row], indptr[row + 1]):
            out[i, indices[k]] += data[k]


@kernel(internal=True)
def _xlogy(a, b):
    """a * log(b), 0 when a == 0 (scipy's xlogy)."""
    if a == 0:
        return 0.0
    return a * math.log(b)


@kernel(internal=True)
def _output_loss_delta(d, out, y, weights, order, loss):
    """Loss and output delta of rows ``order`` (n,): out (n, k) the network's outputs
    (for POISSON its linear outputs, turned into exp in place); d (n, k) overwritten
    with s_i * (y_hat - y). Returns sum_i s_i L_i in float64, L_i being
    scikit-learn's per-sample loss (half squared error averaged over outputs;
    the log losses and Poisson deviance summed over outputs)."""
    n, k = out.shape
    eps = np.finfo(out.dtype).eps
    one = out.dtype.type(1)
    total = 0.0
    for i in range(n):
        sample = order[i]
        s = weights[sample]
        row_loss = 0.0
        for j in range(k):
            if loss == POISSON:
                out[i, j] = math.exp(out[i, j])
            p = out[i, j]
            t = y[sample, j]
            if loss == SQUARED_ERROR:
                row_loss += float(p - t) * float(p - t)
            elif loss == POISSON:
                row_loss += _xlogy(float(t), float(t / p)) - float(t) + float(p)
            else:
                q = min(max(p, eps), one - eps)
                row_loss -= _xlogy(float(t), float(q))
                if loss == BINARY_LOG_LOSS:
                    row_loss -= _xlogy(float(one - t), float(one - q))
            d[i, j] = (p - t) * s
        if loss == SQUARED_ERROR:
            row_loss *= 0.5 / k
        total += float(s) * row_loss
    return total


@kernel(internal=True)
def _accumulate_gradient(grads, params, net, acts, deltas, data, order, loss, accumulate):
    """Forward and backward pass over the rows ``order`` (at most the workspace's
    capacity). grads (P,) gets (``accumulate``: += ) the raw sums A^T D and sum_i D_i
    of every layer, without the 1/S and the penalty; returns sum_i s_i L_i."""
    x, csr, y, weights = data
    sizes, activations, has_bias, _ = net
    n_layers = activations.shape[0]
    capacity = _capacity(acts, sizes)
    rows = order.shape[0]
    a0 = _layer_rows(acts, sizes, ZERO, ZERO, rows, capacity)
    _gather(a0, x, csr, order)
    out = forward(acts, params, net, a0, ZERO, rows, capacity, ZERO, None, ZERO)
    d_out = _layer_rows(deltas, sizes, n_layers, ZERO, rows, capacity)
    total = _output_loss_delta(d_out, out, y, weights, order, loss)
    beta = 1.0 if accumulate else 0.0
    for layer in range(n_layers - 1, -1, -1):
        w, _ = _layer_params(params, sizes, has_bias, layer)
        dw, db = _layer_params(grads, sizes, has_bias, layer)
        dout = _layer_rows(deltas, sizes, layer + 1, ZERO, rows, capacity)
        a = _layer_rows(acts, sizes, layer, ZERO, rows, capacity)
        _gemm(dw, dout, a, YES, NO, 1.0, beta)
        if db.shape[0] > 0:
            if not accumulate:
                db[:] = 0
            for i in range(rows):
                for j in range(db.shape[0]):
                    db[j] += dout[i, j]
        if layer > 0:
            dx = _layer_rows(deltas, sizes, layer, ZERO, rows, capacity)
            _gemm(dx, dout, w, NO, NO, 1.0, 0.0)
            _activation_backward(dx, a, activations[layer - 1])
    return total


@kernel(internal=True, fastmath=FASTMATH)
def _finish_gradient(grads, params, net, alpha, weight_sum):
    """grads = (grads + alpha * W) / S for weights and grads / S for biases, in place
    (times 1/S, and reassociated: 1-ulp differences from scikit-learn's division);
    returns sum_l |W_l|^2 (float64)."""
    sizes, _, has_bias, _ = net
    squares = 0.0
    a = params.dtype.type(alpha)
    inverse = params.dtype.type(1.0 / weight_sum)
    for layer in range(sizes.shape[0] - 1):
        w, _ = _layer_params(params, sizes, has_bias, layer)
        dw, db = _layer_params(grads, sizes, has_bias, layer)
        for i in range(w.shape[0]):
            wi, dwi = w[i], dw[i]
            for j in range(w.shape[1]):
                squares += float(wi[j]) * float(wi[j])
                dwi[j] = (dwi[j] + a * wi[j]) * inverse
        for j in range(db.shape[0]):
            db[j] = db[j] * inverse
    return squares


@kernel(internal=True)
def _weight_sum(weights, order):
    """sum of weights[order] (float64)."""
    total = 0.0
    for i in range(order.shape[0]):
        total += weights[order[i]]
    return total


@kernel(internal=True, fastmath=FASTMATH)
def _sgd_step(w, g, velocity, lr, momentum, nesterov):
    """scikit-learn's SGD with (Nesterov) momentum; w, g, velocity (P,) in place."""
    lr = w.dtype.type(lr)
    momentum = w.dtype.type(momentum)
    for i in range(w.shape[0]):
        u = momentum * velocity[i] - lr * g[i]
        velocity[i] = u
        if nesterov:
            u = momentum * u - lr * g[i]
        w[i] += u


@kernel(internal=True, fastmath=FASTMATH)
def _adam_step(w, g, m, v, lr, beta_1, beta_2, epsilon):
    """scikit-learn's Adam (bias correction in the rate, epsilon outside the root);
    w, g, m, v (P,) in place; lr already bias-corrected."""
    dtype = w.dtype.type
    b1, b2 = dtype(beta_1), dtype(beta_2)
    c1, c2 = dtype(1.0 - beta_1), dtype(1.0 - beta_2)
    rate, eps = dtype(-lr), dtype(epsilon)
    for i in range(w.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        w[i] += rate * mi / (math.sqrt(vi) + eps)


@kernel
def train_epoch(params, state, grads, acts, deltas, net, data, order, batch_size, loss, rule,
                hyper, step):
    """One epoch of mini-batches of ``batch_size`` over the samples ``order``.

    params, grads (P,); state (2, P): SGD's velocity, or Adam's m and s;
    acts, deltas: workspace of capacity >= min(batch_size, n) rows;
    data = (x (N, features) or (0, features), csr (data, indices, indptr) or empties,
    y (N, k), weights (N,)); hyper (N_HYPER,) float64; ``step``: Adam updates done
    before this epoch. Returns sum over batches of (batch loss * batch rows).
    """
    weights = data[3]
    n = order.shape[0]
    lr, alpha = hyper[H_LEARNING_RATE], hyper[H_ALPHA]
    b1, b2 = hyper[H_BETA_1], hyper[H_BETA_2]
    accumulated = 0.0
    mode = flush_denormals()
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch = order[start:stop]
        total = _accumulate_gradient(grads, params, net, acts, deltas, data, batch, loss,
                                     False)
        weight_sum = _weight_sum(weights, batch)
        squares = _finish_gradient(grads, params, net, alpha, weight_sum)
        batch_loss = total / weight_sum + (0.5 * alpha) * squares / weight_sum
        accumulated += batch_loss * (stop - start)
        if rule == SGD:
            _sgd_step(params, grads, state[0], lr, hyper[H_MOMENTUM], hyper[H_NESTEROV] != 0)
        else:
            step += 1
            t = float(step)
            rate = lr * math.sqrt(1 - math.pow(b2, t)) / (1 - math.pow(b1, t))
            _adam_step(params, grads, state[0], state[1], rate, b1, b2, hyper[H_EPSILON])
    restore_mode(mode)
    return accumulated


@kernel
def objective(grads, params, acts, deltas, net, data, order, loss, alpha):
    """Loss and gradient over every sample (lbfgs), in chunks of the workspace's
    capacity rows; order = arange(N); grads (P,) overwritten with dJ/dparams.
    Returns J (float64)."""
    x, csr, y, weights = data
    n = y.shape[0]
    capacity = _capacity(acts, net[0])
    total = 0.0
    mode = flush_denormals()
    for start in range(0, n, capacity):
        stop = min(start + capacity, n)
        total += _accumulate_gradient(grads, params, net, acts, deltas, data,
                                      order[start:stop], loss, start > 0)
    weight_sum = _weight_sum(weights, order)
    squares = _finish_gradient(grads, params, net, alpha, weight_sum)
    restore_mode(mode)
    return total / weight_sum + (0.5 * alpha) * squares / weight_sum
