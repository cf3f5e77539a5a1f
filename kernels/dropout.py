"""Inverted dropout as a counter-based hash: no random stream, no stored mask.

Whether unit ``unit`` of batch row ``row`` survives dropout ``d`` at training step
``step`` is a pure function of (key_d, step, row, unit):

  s    = mix64(key + step * GOLDEN_64)                 once per dropout and batch
  r    = mix64(s + (row + 1) * ROW_64) >> 32           once per row
  bits = mix32((r + unit * GOLDEN_32) mod 2^32)        per value
  kept = bits >= ceil(rate * 2^32)                     P(kept) = 1 - rate, to 2^-32

mix64 is splitmix64's finalizer, mix32 a 32-bit finalizer (lowbias32) whose
multiplies vectorize. Being a function of the counters, the mask is the same
whichever thread computes which rows, is recomputed in the backward pass instead of
stored (no workspace), and a resumed fit continues it bitwise from the saved step.
A kept value is multiplied by scale = 1 / (1 - rate) in the array's dtype (Keras
with TensorFlow and PyTorch scale so), a dropped one set to 0; the backward pass
scales the delta the same way. ``mode`` bit 0: all
rows share row 0's mask (noise_shape (1, units)); bit 1: all units share unit 0's
(noise_shape (batch, 1)). ``fastnn.reference.dropout_mask`` states the same in NumPy.

A dropout spec, as the training kernels take it: (blocks (D,) int64, rates (D,)
float64, modes (D,) int64, keys (D,) uint64); dropout d acts on workspace block
blocks[d] (0: the inputs, l >= 1: layer l - 1's output), several on one block in
order; or None, for a model without dropout. The three kernels that take a spec are
compiled apart for None, with their bodies pruned (Numba drops an ``if spec is None``
branch by the argument's type before typing the rest), so a model without dropout
compiles none of the dropout code.
"""
import math

import numpy as np

from ._jit import kernel
from .activations import _activation_backward
from .codes import RELU, SIGMOID, TANH

GOLDEN_64 = np.uint64(0x9E3779B97F4A7C15)
ROW_64 = np.uint64(0xD1B54A32D192ED03)
GOLDEN_32 = np.uint64(0x9E3779B9)
_MIX64_A = np.uint64(0xBF58476D1CE4E5B9)
_MIX64_B = np.uint64(0x94D049BB133111EB)
_MIX32_A = np.uint64(0x7FEB352D)
_MIX32_B = np.uint64(0x846CA68B)
_LOW32 = np.uint64(0xFFFFFFFF)
_S15, _S16, _S27, _S30, _S31, _S32 = (np.uint64(s) for s in (15, 16, 27, 30, 31, 32))


@kernel(inline="always")
def _mix64(z):
    """splitmix64's finalizer of a uint64."""
    z = (z ^ (z >> _S30)) * _MIX64_A
    z = (z ^ (z >> _S27)) * _MIX64_B
    return z ^ (z >> _S31)


@kernel(inline="always")
def _mix32(x):
    """lowbias32 of a value below 2^32 held in a uint64; the products are cut to 32
    bits, so LLVM runs them as 32-bit vector multiplies."""
    x = x ^ (x >> _S16)
    x = (x * _MIX32_A) & _LOW32
    x = x ^ (x >> _S15)
    x = (x * _MIX32_B) & _LOW32
    return x ^ (x >> _S16)


@kernel(inline="always")
def _threshold(rate):
    """ceil(rate * 2^32): a value is kept when its 32 bits are at least this."""
    return np.int64(math.ceil(rate * 4294967296.0))


@kernel(internal=True)
def _mask_scale(a, rate, mode, key, step, row0, unit0):
    """a = a * scale where kept, else 0, in place. a: (n, units), batch rows
    row0..row0+n and units unit0..unit0+units of dropout (rate, mode, key) at
    ``step``. The forward pass and the backward pass alike (the same mask, the
    same scale): d(a * scale)/da = scale."""
    scale = a.dtype.type(1.0 / (1.0 - rate))
    zero = a.dtype.type(0)
    threshold = _threshold(rate)
    s = _mix64(np.uint64(key) + np.uint64(step) * GOLDEN_64)
    unit_stride = np.uint64(0 if mode & 2 else 1)
    base = np.uint64(unit0) * unit_stride * GOLDEN_32
    stride = unit_stride * GOLDEN_32
    for i in range(a.shape[0]):
        row = 0 if mode & 1 else row0 + i
        r = _mix64(s + np.uint64(row + 1) * ROW_64) >> _S32
        start = r + base
        values = a[i]
        for j in range(values.shape[0]):
            bits = _mix32((start + np.uint64(j) * stride) & _LOW32)
            values[j] = values[j] * scale if np.int64(bits) >= threshold else zero


@kernel(internal=True)
def _drop_block(a, spec, block, step, row0, unit0):
    """Every dropout of workspace block ``block``, in order, on a: (n, units) (batch
    rows row0.., units unit0..)."""
    if spec is None:
        return
    blocks, rates, modes, keys = spec
    for d in range(blocks.shape[0]):
        if blocks[d] == block:
            _mask_scale(a, rates[d], modes[d], keys[d], step, row0, unit0)


@kernel(internal=True)
def _has_dropout(spec, block):
    """Whether a dropout acts on workspace block ``block``."""
    if spec is None:
        return False
    blocks = spec[0]
    for d in range(blocks.shape[0]):
        if blocks[d] == block:
            return True
    return False


@kernel(internal=True)
def _undrop_block(d, a, spec, block, step, row0, code):
    """Backward through block ``block``'s dropouts (in reverse) and then the
    activation ``code`` that produced it: d (n, units) holds dJ/d(dropped output) and
    becomes dJ/dz; a is the dropped output (rows row0.. of the batch).

    After relu or sigmoid the mask is read off a rather than hashed again: where a
    is 0 (dropped, or relu's zero, or sigmoid's underflow) the gradient is 0 either
    way, elsewhere d is scaled. Other activations have nonzero derivatives at 0."""
    if spec is None:  # never called so: ``_has_dropout`` is False without a spec
        return
    blocks, rates, modes, keys = spec
    keep = 1.0
    for k in range(blocks.shape[0] - 1, -1, -1):
        if blocks[k] == block:
            if code == RELU or code == SIGMOID:
                _scale_where_nonzero(d, a, rates[k])
            else:
                _mask_scale(d, rates[k], modes[k], keys[k], step, row0, 0)
            keep *= 1.0 - rates[k]
    _kept_activation_backward(d, a, code, keep)


@kernel(internal=True)
def _scale_where_nonzero(d, a, rate):
    """d = d * scale where a != 0, else 0 (d, a: (n, units))."""
    scale = d.dtype.type(1.0 / (1.0 - rate))
    zero = d.dtype.type(0)
    for i in range(d.shape[0]):
        di, ai = d[i], a[i]
        for j in range(d.shape[1]):
            di[j] = di[j] * scale if ai[j] != zero else zero


@kernel(internal=True)
def _kept_activation_backward(d, a, code, keep):
    """d *= f'(z) from the dropped output a: kept values are f(z) * scale, dropped
    ones have d = 0 already. relu, leaky_relu and linear depend only on the sign,
    which the scale keeps; sigmoid and tanh read f(z) back as a * keep (to an ulp).
    A softmax layer is never followed by dropout (the model refuses it)."""
    if code != SIGMOID and code != TANH:
        _activation_backward(d, a, code)
        return
    one = d.dtype.type(1)
    back = d.dtype.type(keep)
    for i in range(d.shape[0]):
        di, ai = d[i], a[i]
        for j in range(d.shape[1]):
            t = ai[j] * back
            if code == SIGMOID:
                di[j] *= t * (one - t)
            else:
                di[j] *= one - t * t
