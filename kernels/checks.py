"""Input checks that run at memory speed: one read of the data, no temporaries."""
import math

from ._jit import kernel

_BLOCK = 4096  # values summed between early-exit tests


@kernel(fastmath={"reassoc"})
def all_finite(values):
    """True when no element of the 1-D ``values`` is NaN or infinite.

    ``v * 0`` is 0 for finite v and NaN for NaN or +-inf, so a block's sum of them is
    NaN exactly when the block holds a non-finite value; ``reassoc`` alone lets LLVM
    vectorize that sum without licensing it to assume values are finite. Each block
    is a slice so that its loop has a plain trip count: a ``min()`` bound kept LLVM
    from vectorizing and took twice as long. ~11 ms on a 60,000 x 784 float32
    training set, where ``np.isfinite(x).all()`` took ~25 ms and wrote a boolean
    temporary as large as x.
    """
    zero = values.dtype.type(0)
    for start in range(0, values.shape[0], _BLOCK):
        block = values[start:start + _BLOCK]
        total = zero
        for i in range(block.shape[0]):
            total += block[i] * zero
        if math.isnan(total):
            return False
    return True
