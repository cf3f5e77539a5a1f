"""Activation epilogues and their derivatives, row by row over a mini-batch.

Every function works in place on a C-contiguous (batch, units) array, and the
derivatives use the saved activation output ``a`` (never the pre-activation).
"""
import math

from ._jit import kernel, python_entry

from .codes import LEAKY_RELU, LEAKY_RELU_SLOPE, LINEAR, RELU, SIGMOID, SOFTMAX, TANH


@kernel(inline="always")
def _sigmoid(z, one):
    # Branch on the sign so exp never overflows: exp(-|z|) <= 1. ``one`` carries
    # the dtype: a bare literal 1 would promote float32 math to float64.
    if z >= 0:
        return one / (one + math.exp(-z))
    e = math.exp(z)
    return e / (one + e)


@kernel(internal=True)
def _bias_activation(z, b, code):
    """a = f(z + b), in place. z: (n, units); b: (units,) or empty (no bias).

    Softmax is max-shifted per row; sigmoid is overflow-free.
    """
    n, units = z.shape
    has_bias = b.shape[0] > 0
    zero = z.dtype.type(0)
    one = z.dtype.type(1)
    slope = z.dtype.type(LEAKY_RELU_SLOPE)
    for i in range(n):
        row = z[i]
        if has_bias:
            for j in range(units):
                row[j] += b[j]
        if code == LINEAR:
            pass
        elif code == RELU:
            for j in range(units):
                row[j] = max(row[j], zero)
        elif code == SIGMOID:
            for j in range(units):
                row[j] = _sigmoid(row[j], one)
        elif code == TANH:
            for j in range(units):
                row[j] = math.tanh(row[j])
        elif code == LEAKY_RELU:
            for j in range(units):
                if row[j] < zero:
                    row[j] *= slope
        elif code == SOFTMAX:
            peak = row[0]
            for j in range(1, units):
                peak = max(peak, row[j])
            total = zero
            for j in range(units):
                row[j] = math.exp(row[j] - peak)
                total += row[j]
            inverse = one / total
            for j in range(units):
                row[j] *= inverse


@kernel(internal=True)
def _activation_backward(d, a, code):
    """d = d * f'(z), in place, from the saved output a = f(z). d, a: (n, units).

    Softmax applies its Jacobian-vector product: d_j = a_j (d_j - sum_k d_k a_k).
    """
    n, units = d.shape
    zero = d.dtype.type(0)
    one = d.dtype.type(1)
    slope = d.dtype.type(LEAKY_RELU_SLOPE)
    for i in range(n):
        di = d[i]
        ai = a[i]
        if code == LINEAR:
            pass
        elif code == RELU:
            for j in range(units):
                if ai[j] <= zero:
                    di[j] = zero
        elif code == SIGMOID:
            for j in range(units):
                di[j] *= ai[j] * (one - ai[j])
        elif code == TANH:
            for j in range(units):
                di[j] *= one - ai[j] * ai[j]
        elif code == LEAKY_RELU:
            for j in range(units):
                if ai[j] < zero:
                    di[j] *= slope
        elif code == SOFTMAX:
            dot = zero
            for j in range(units):
                dot += di[j] * ai[j]
            for j in range(units):
                di[j] = ai[j] * (di[j] - dot)


# Python entry points of the kernels above (see ``_jit.python_entry``).
bias_activation = python_entry(_bias_activation)
activation_backward = python_entry(_activation_backward)
