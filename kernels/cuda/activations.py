"""Activation epilogues and their derivatives on the device.

Elementwise activations are device functions that the GEMM kernels call in their
epilogue (one output element per thread); softmax needs a whole row, so it runs as a
separate kernel with one thread per row (max-shifted), as does its Jacobian-vector
product. Derivatives use the saved activation output ``a``, as on the CPU.
``zero``, ``one`` and ``slope`` are passed in the array's dtype, so float32 math
stays float32.
"""
import math

from ._backend import cuda

from ..codes import LEAKY_RELU, RELU, SIGMOID, TANH


@cuda.jit(device=True)
def sigmoid(z, one):
    """1 / (1 + exp(-z)) branched on the sign so exp never overflows."""
    if z >= 0:
        return one / (one + math.exp(-z))
    e = math.exp(z)
    return e / (one + e)


@cuda.jit(device=True)
def activate(z, code, zero, one, slope):
    """f(z) for one element; linear and softmax return z (softmax is a row pass)."""
    if code == RELU:
        return max(z, zero)
    if code == SIGMOID:
        return sigmoid(z, one)
    if code == TANH:
        return math.tanh(z)
    if code == LEAKY_RELU:
        return z * slope if z < zero else z
    return z


@cuda.jit(device=True)
def derivative(d, a, code, zero, one, slope):
    """d * f'(z) for one element from the saved output a = f(z) (softmax: identity)."""
    if code == RELU:
        return zero if a <= zero else d
    if code == SIGMOID:
        return d * (a * (one - a))
    if code == TANH:
        return d * (one - a * a)
    if code == LEAKY_RELU:
        return d * slope if a < zero else d
    return d


@cuda.jit(device=True)
def softmax_row(z, i):
    """Row i of z (n, units) in place: exp(z - max) / sum."""
    units = z.shape[1]
    peak = z[i, 0]
    for j in range(1, units):
        peak = max(peak, z[i, j])
    total = z.dtype.type(0)
    for j in range(units):
        z[i, j] = math.exp(z[i, j] - peak)
        total += z[i, j]
    inverse = z.dtype.type(1) / total
    for j in range(units):
        z[i, j] *= inverse


@cuda.jit(device=True)
def softmax_backward_row(d, a, i):
    """Row i of d (n, units) in place: d_j = a_j (d_j - sum_k d_k a_k)."""
    dot = d.dtype.type(0)
    for j in range(d.shape[1]):
        dot += d[i, j] * a[i, j]
    for j in range(d.shape[1]):
        d[i, j] = a[i, j] * (d[i, j] - dot)


@cuda.jit(cache=True)
def softmax_rows(z):
    """Softmax of every row of z (n, units), in place; one thread per row."""
    i = cuda.grid(1)
    if i < z.shape[0]:
        softmax_row(z, i)


@cuda.jit(cache=True)
def softmax_backward_rows(d, a):
    """d = softmax JVP of d at the saved output a, in place. d, a: (n, units);
    one thread per row."""
    i = cuda.grid(1)
    if i < d.shape[0]:
        softmax_backward_row(d, a, i)
