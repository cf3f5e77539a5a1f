"""Dense layer passes over a whole mini-batch. W is stored (units, inputs)."""
from ._jit import kernel

from .activations import activation_backward, bias_activation
from .blas import gemm


@kernel
def dense_forward(out, x, w, b, activation):
    """out = f(x @ W.T + b). out: (n, units) overwritten; x: (n, inputs);
    w: (units, inputs); b: (units,) or empty. Bias and activation run as one
    epilogue pass over ``out`` while it is still in cache."""
    gemm(out, x, w, False, True, 1.0, 0.0)
    bias_activation(out, b, activation)


@kernel
def dense_backward(dx, dw, db, dout, x, w, x_activation):
    """Gradients of one layer from dout = dL/dz: (n, units).

    dw = dout.T @ x (units, inputs) and db = sum over rows of dout (units,) are
    overwritten; dx = (dout @ W) * f'(x) (n, inputs) is overwritten unless empty
    (the first layer needs no input delta). ``x_activation`` is the code of the
    activation that produced x.
    """
    gemm(dw, dout, x, True, False, 1.0, 0.0)
    if db.shape[0] > 0:
        db[:] = 0
        for i in range(dout.shape[0]):
            for j in range(dout.shape[1]):
                db[j] += dout[i, j]
    if dx.shape[0] > 0:
        gemm(dx, dout, w, False, False, 1.0, 0.0)
        activation_backward(dx, x, x_activation)
