"""Input checks that run at memory speed: one read of the data, no temporaries."""
import math

from ._jit import kernel

_BLOCK = 4096  # values summed between early-exit tests


@kernel(fastmath={"reassoc"})
def all_finite(values):
    """True when no element of the 1-D ``values`` is NaN or infinite.

    ``v * 0`` is 0 for finite v and NaN for NaN or +-inf, so a block's sum of them is
    NaN exactly when the block holds a non-finite value; ``reassoc`` alone lets LLVM
    vectorize that sum without licensing it to assume values are finite.
    ``np.isfinite(x).all()`` wrote a boolean temporary as large as x and took ~20 ms
    on a 60,000 x 784 float32 training set.
    """
    zero = values.dtype.type(0)
    n = values.shape[0]
    for start in range(0, n, _BLOCK):
        total = zero
        for i in range(start, min(start + _BLOCK, n)):
            total += values[i] * zero
        if math.isnan(total):
            return False
    return True
