"""Activation epilogues and their derivatives, row by row over a mini-batch.

Every function works in place on a C-contiguous (batch, units) array, and the
derivatives use the saved activation output ``a`` (never the pre-activation).
"""
from ._jit import kernel, python_entry

from .codes import LEAKY_RELU, LEAKY_RELU_SLOPE, LINEAR, RELU, SIGMOID, SOFTMAX, TANH
from .rules import CPU


# The per-element rules, written once in rules.py for the CPU and CUDA kernels. Each
# loop below passes its activation code as a constant, so the inlined rule's other
# branches fold away and the loop stays a straight, vectorizable one.
_activate = CPU.activate
_derivative = CPU.derivative
_softmax_row = CPU.softmax_row
_softmax_backward_row = CPU.softmax_backward_row


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
        if has_bias and code == RELU:
            # One pass, not two: relu's epilogue is bound by loads and stores. A
            # (32, 256) block (fit_many's 8 models of 32 units) took 0.5-0.9 us
            # against 1.4; the same bits.
            for j in range(units):
                row[j] = _activate(row[j] + b[j], RELU, zero, one, slope)
            continue
        if has_bias:
            for j in range(units):
                row[j] += b[j]
        if code == LINEAR:
            pass
        elif code == RELU:
            for j in range(units):
                row[j] = _activate(row[j], RELU, zero, one, slope)
        elif code == SIGMOID:
            for j in range(units):
                row[j] = _activate(row[j], SIGMOID, zero, one, slope)
        elif code == TANH:
            for j in range(units):
                row[j] = _activate(row[j], TANH, zero, one, slope)
        elif code == LEAKY_RELU:
            for j in range(units):
                row[j] = _activate(row[j], LEAKY_RELU, zero, one, slope)
        elif code == SOFTMAX:
            _softmax_row(row)


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
                di[j] = _derivative(di[j], ai[j], RELU, zero, one, slope)
        elif code == SIGMOID:
            for j in range(units):
                di[j] = _derivative(di[j], ai[j], SIGMOID, zero, one, slope)
        elif code == TANH:
            for j in range(units):
                di[j] = _derivative(di[j], ai[j], TANH, zero, one, slope)
        elif code == LEAKY_RELU:
            for j in range(units):
                di[j] = _derivative(di[j], ai[j], LEAKY_RELU, zero, one, slope)
        elif code == SOFTMAX:
            _softmax_backward_row(di, ai)


# Python entry points of the kernels above (see ``_jit.python_entry``).
bias_activation = python_entry(_bias_activation)
activation_backward = python_entry(_activation_backward)
