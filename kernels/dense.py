"""Dense layer passes over a whole mini-batch. W is stored (units, inputs)."""
import numpy as np

from ._jit import kernel
from .activations import _activation_backward, _bias_activation
from .blas import _gemm

# Transpose flags as NumPy bools: Numba compiles a separate copy of a kernel for each
# distinct Python literal (True, 0, ...) it is called with, ~0.2 s of cold start each,
# while NumPy scalars reach it as plain runtime values.
NO, YES = np.False_, np.True_


@kernel(inline="always")
def dense_forward(out, x, w, b, activation):
    """out = f(x @ W.T + b). out: (n, units) overwritten; x: (n, inputs);
    w: (units, inputs); b: (units,) or empty. Bias and activation run as one
    epilogue pass over ``out`` while it is still in cache."""
    _gemm(out, x, w, NO, YES, 1.0, 0.0)
    _bias_activation(out, b, activation)


@kernel(inline="always")
def bias_gradient(db, dout):
    """db = sum over rows of dout (n, units); nothing when db is empty (no bias)."""
    if db.shape[0] > 0:
        db[:] = 0
        for i in range(dout.shape[0]):
            for j in range(dout.shape[1]):
                db[j] += dout[i, j]


@kernel(inline="always")
def dense_backward(dx, dw, db, dout, x, w, x_activation):
    """Gradients of one layer from dout = dL/dz: (n, units).

    dw = dout.T @ x (units, inputs) and db = sum over rows of dout (units,) are
    overwritten; dx = (dout @ W) * f'(x) (n, inputs) is overwritten unless empty
    (the first layer needs no input delta). ``x_activation`` is the code of the
    activation that produced x.
    """
    _gemm(dw, dout, x, YES, NO, 1.0, 0.0)
    bias_gradient(db, dout)
    if dx.shape[0] > 0:
        _gemm(dx, dout, w, NO, NO, 1.0, 0.0)
        _activation_backward(dx, x, x_activation)
