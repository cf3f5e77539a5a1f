"""Activation epilogues and their derivatives on the device.

Elementwise activations are device functions that the GEMM kernels call in their
epilogue (one output element per thread); softmax needs a whole row, so it runs as a
separate kernel with one thread per row (max-shifted), as does its Jacobian-vector
product. Derivatives use the saved activation output ``a``, as on the CPU.
``zero``, ``one`` and ``slope`` are passed in the array's dtype, so float32 math
stays float32.
"""
from ._backend import cuda

from .rules import DEVICE

# The rules of kernels/rules.py, as device functions: the GEMM epilogues call
# ``activate`` and ``derivative`` per element, the row kernels below the softmax ones.
activate = DEVICE.activate
derivative = DEVICE.derivative
softmax_row = DEVICE.softmax_row
softmax_backward_row = DEVICE.softmax_backward_row


@cuda.jit(cache=True)
def softmax_rows(z):
    """Softmax of every row of z (n, units), in place; one thread per row."""
    i = cuda.grid(1)
    if i < z.shape[0]:
        softmax_row(z[i])


@cuda.jit(cache=True)
def softmax_backward_rows(d, a):
    """d = softmax JVP of d at the saved output a, in place. d, a: (n, units);
    one thread per row."""
    i = cuda.grid(1)
    if i < d.shape[0]:
        softmax_backward_row(d[i], a[i])
