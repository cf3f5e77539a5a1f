"""Optimizer updates: one sweep over the whole flat parameter buffer.

Shapes: w, g (P,) parameters and gradients; state (2, P) optimizer slots.
``lr`` and ``step_size`` are this step's learning rate and the effective step
(Adam's bias-corrected rate), computed by the caller so schedules work.
Slots decaying toward zero are flushed below the dtype's smallest normal number:
weights fed by always-zero inputs would otherwise drive them into denormals,
which cost ~100x per operation on x86 (the Adam sweep measured 25x slower on them).
The epoch kernel also runs with the CPU's flush-to-zero mode (``fpmode``), which
covers denormal intermediates (e.g. ``(1 - beta_2) * g**2`` for g ~ 1e-19) on x86;
the explicit flush keeps other platforms' slots out of the denormal range too.
"""
import math

import numpy as np
from ._jit import FASTMATH, kernel, python_entry

from .codes import ADAM, RMSPROP, SGD, SGD_NESTEROV


@kernel(inline="always")
def _flush(value, tiny):
    """0 when |value| < tiny, else value (NaN passes through). ``value - value`` keeps
    the dtype: a literal 0 would turn float32 arithmetic into float64."""
    return value - value if abs(value) < tiny else value


# Each rule is a straight loop per case, with no branch inside, so LLVM vectorizes
# it; ``fastmath`` (without nnan/ninf) lets it fuse multiply-adds.
@kernel(internal=True, fastmath=FASTMATH)
def _decay(w, factor):
    """w *= factor (decoupled weight decay)."""
    for i in range(w.shape[0]):
        w[i] *= factor


@kernel(internal=True, fastmath=FASTMATH)
def _sgd_update(w, g, velocity, lr, momentum, weight_decay, nesterov):
    """Keras 3 SGD: v = mu*v - lr*g; w += v (or w += mu*v - lr*g with Nesterov).

    Weight decay is decoupled, as Keras 3: w -= lr * weight_decay * w first.
    """
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    if weight_decay != 0:
        _decay(w, w.dtype.type(1) - lr * weight_decay)
    if momentum == 0:
        for i in range(w.shape[0]):
            w[i] -= lr * g[i]
    elif nesterov:
        for i in range(w.shape[0]):
            v = _flush(momentum * velocity[i] - lr * g[i], tiny)
            velocity[i] = v
            w[i] += momentum * v - lr * g[i]
    else:
        for i in range(w.shape[0]):
            v = _flush(momentum * velocity[i] - lr * g[i], tiny)
            velocity[i] = v
            w[i] += v


@kernel(internal=True, fastmath=FASTMATH)
def _add_velocity(w, velocity, shrink):
    """w = shrink * w + velocity: SGD's step once the velocity holds momentum * v -
    lr * g (shrink = 1 - lr * weight_decay, the decoupled decay; 1 without).

    For callers that compute the velocity themselves (the epoch kernel's gradient
    product accumulates into it); ``sgd_update`` does both steps from g.
    """
    for i in range(w.shape[0]):
        w[i] = shrink * w[i] + velocity[i]


@kernel(internal=True, fastmath=FASTMATH)
def _adam_update(w, g, m, v, step_size, beta_1, beta_2, epsilon, lr, weight_decay):
    """Keras 3 Adam (epsilon outside the root, bias correction folded into the step):

    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; w -= step_size * m / (sqrt(v) + eps)
    with step_size = lr * sqrt(1 - b2^t) / (1 - b1^t); decoupled weight decay first.
    """
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    one = w.dtype.type(1)
    if weight_decay != 0:
        _decay(w, w.dtype.type(1) - lr * weight_decay)
    for i in range(w.shape[0]):
        gi = g[i]
        mi = _flush(beta_1 * m[i] + (one - beta_1) * gi, tiny)
        vi = _flush(beta_2 * v[i] + (one - beta_2) * gi * gi, tiny)
        m[i] = mi
        v[i] = vi
        w[i] -= step_size * mi / (math.sqrt(vi) + epsilon)


@kernel(internal=True, fastmath=FASTMATH)
def _rmsprop_update(w, g, ms, velocity, lr, rho, momentum, epsilon, weight_decay):
    """Keras 3 RMSprop (uncentered): ms = rho*ms + (1-rho)*g^2;
    step = lr * g / sqrt(ms + eps); with momentum: v = mu*v + step, w -= v;
    else w -= step. Decoupled weight decay first."""
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    one = w.dtype.type(1)
    if weight_decay != 0:
        _decay(w, w.dtype.type(1) - lr * weight_decay)
    if momentum == 0:
        for i in range(w.shape[0]):
            gi = g[i]
            s = _flush(rho * ms[i] + (one - rho) * gi * gi, tiny)
            ms[i] = s
            w[i] -= lr * gi / math.sqrt(s + epsilon)
    else:
        for i in range(w.shape[0]):
            gi = g[i]
            s = _flush(rho * ms[i] + (one - rho) * gi * gi, tiny)
            ms[i] = s
            vi = _flush(momentum * velocity[i] + lr * gi / math.sqrt(s + epsilon), tiny)
            velocity[i] = vi
            w[i] -= vi


# Slots of the ``hyper`` array (model dtype) that ``apply_update`` reads.
H_MOMENTUM, H_BETA_1, H_BETA_2, H_EPSILON, H_RHO, H_WEIGHT_DECAY = range(6)
N_HYPER = 6


@kernel(internal=True)
def _apply_update(w, g, slot_0, slot_1, optimizer, hyper, lr, step_size):
    """Dispatch one update of (a block of) the flat buffers on the optimizer code.

    w, g, slot_0, slot_1: (P,); hyper: (N_HYPER,) model dtype; lr, step_size:
    model dtype scalars. Slots: SGD velocity; Adam m, v; RMSprop mean square, velocity.
    """
    decay = hyper[H_WEIGHT_DECAY]
    if optimizer == SGD or optimizer == SGD_NESTEROV:
        _sgd_update(w, g, slot_0, lr, hyper[H_MOMENTUM], decay, optimizer == SGD_NESTEROV)
    elif optimizer == ADAM:
        _adam_update(w, g, slot_0, slot_1, step_size, hyper[H_BETA_1], hyper[H_BETA_2],
                     hyper[H_EPSILON], lr, decay)
    elif optimizer == RMSPROP:
        _rmsprop_update(w, g, slot_0, slot_1, lr, hyper[H_RHO], hyper[H_MOMENTUM],
                        hyper[H_EPSILON], decay)


# Python entry points of the kernels above (see ``_jit.python_entry``).
sgd_update = python_entry(_sgd_update)
adam_update = python_entry(_adam_update)
rmsprop_update = python_entry(_rmsprop_update)
apply_update = python_entry(_apply_update)
