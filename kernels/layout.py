"""The flat-buffer layout, written once for the CPU kernels and the CUDA drivers.

All weights and biases live in one flat buffer (P,): every layer's W (units, inputs)
then its b (units,) (absent without a bias), layer after layer; gradients and each
optimizer slot share the layout. ``kernels/network.py`` compiles this function as a
kernel; ``kernels/cuda/network.py`` calls it from Python on device arrays.

The training kernels' array groups are named tuples: Numba compiles them as tuples
(unpacked, indexed or read by field name), and callers build them by name. The
network's own tuple ``net`` = (sizes, activations, has_bias, l2) stays a plain one:
predict takes it too, and Numba types a named tuple in Python on every call, 0.7-1.0
us more than a plain tuple (3.6-3.8 us): a tenth of a one-row predict.
"""
from collections import namedtuple

from .views import matrix_view

# params (P,), grads (parts, P), state (slots, P), acts and deltas: the workspace
Buffers = namedtuple("Buffers", "params grads state acts deltas")
# x (N, inputs), y (N, units) or empty, labels (N,) int64 or empty, weights (N,)
Data = namedtuple("Data", "x y labels weights")


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
