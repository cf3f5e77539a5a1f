"""The flat-buffer layout, written once for the CPU kernels and the CUDA drivers.

All weights and biases live in one flat buffer (P,): every layer's W (units, inputs)
then its b (units,) (absent without a bias), layer after layer; gradients and each
optimizer slot share the layout. ``kernels/network.py`` compiles this function as a
kernel; ``kernels/cuda/network.py`` calls it from Python on device arrays.

The training kernels' array groups are plain tuples, built by name through
``train_buffers`` and ``data_arrays``. Not named tuples: Numba types a named tuple in
Python on every call, 0.8-1.0 us more than a plain tuple, and fit on a small problem
passes two of them (1.9 us of a 4-row fit's 3.3 us kernel call, arguments typed).
"""
from .views import matrix_view


def train_buffers(params, grads, state, acts, deltas):
    """(params (P,), grads (parts, P), state (slots, P), acts, deltas): the weights,
    their gradients and optimizer state, and the workspaces."""
    return params, grads, state, acts, deltas


def data_arrays(x, y, labels, weights):
    """(x (N, inputs), y (N, units) or empty, labels (N,) int64 or empty, weights (N,))."""
    return x, y, labels, weights


def layer_params(params, sizes, has_bias, layer):
    """Views (W (units, inputs), b (units,) or empty) of one layer in a flat buffer."""
    offset = 0
    for l in range(layer):
        offset += sizes[l + 1] * sizes[l] + (sizes[l + 1] if has_bias[l] else 0)
    inputs, units = sizes[layer], sizes[layer + 1]
    w = matrix_view(params, offset, units, inputs)
    offset += units * inputs
    b = params[offset:offset + (units if has_bias[layer] else 0)]
    return w, b
