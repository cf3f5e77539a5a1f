"""Optimizer updates: one sweep over the whole flat parameter buffer.

Shapes: w, g (P,) parameters and gradients; state (2, P) optimizer slots, (3, P)
for Adam with amsgrad and centered RMSprop.
``lr`` and ``step_size`` are this step's learning rate and the effective step
(Adam's bias-corrected rate), computed by the caller so schedules work.
Slots decaying toward zero are flushed below the dtype's smallest normal number:
weights fed by always-zero inputs would otherwise drive them into denormals,
which cost ~100x per operation on x86 (the Adam sweep measured 25x slower on them).
The epoch kernel also runs with the CPU's flush-to-zero mode (``fpmode``), which
covers denormal intermediates (e.g. ``(1 - beta_2) * g**2`` for g ~ 1e-19) on x86;
the explicit flush keeps other platforms' slots out of the denormal range too.

Coefficients such as 1 - beta_2 are computed in float64 and rounded once to the
model's dtype, outside the loops: float32's 1 - float32(0.999) is 0.00099998713, which
made every float32 Adam step 6.6e-6 (relative) too large. The API stores them in
``hyper`` (H_ONE_MINUS_*); ``adam_update`` and ``rmsprop_update``, given Python
floats, derive them the same way.
"""
import math

import numpy as np
from ._jit import FASTMATH, kernel, python_entry

from .codes import ADAM, ADAM_AMSGRAD, RMSPROP, RMSPROP_CENTERED, SGD, SGD_NESTEROV
from .rules import CPU


# The per-parameter steps, written once in rules.py for the CPU and CUDA kernels.
_sgd_velocity = CPU.sgd_velocity
_new_moments = CPU.adam_moments
_adam_step = CPU.adam_step
_rms_mean_square = CPU.rms_mean_square
_rms_mean = CPU.rms_mean
_rms_step = CPU.rms_step
_momentum_velocity = CPU.momentum_velocity


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
            v = _sgd_velocity(velocity[i], g[i], lr, momentum, tiny)
            velocity[i] = v
            w[i] += momentum * v - lr * g[i]
    else:
        for i in range(w.shape[0]):
            v = _sgd_velocity(velocity[i], g[i], lr, momentum, tiny)
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
def _shrink(w, rate):
    """w -= rate * w (decoupled weight decay, Keras's ``w - w * wd * lr``).

    Unlike ``w *= 1 - rate``, it keeps rate's relative precision: float32's
    1 - 4e-6 (AdamW's default wd * lr) is off by 0.15% of the decay.
    """
    for i in range(w.shape[0]):
        w[i] -= rate * w[i]


@kernel(internal=True, fastmath=FASTMATH)
def _adam_moments(w, g, m, v, step_size, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Adam's sweep with its coefficients ready in w's dtype (Keras 3's order):

    m += (1-b1)*(g - m); v += (1-b2)*(g^2 - v); w -= step_size * m / (sqrt(v) + eps).
    w, g, m, v: (P,), updated in place (m, v flushed below the smallest normal).
    """
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    for i in range(w.shape[0]):
        mi, vi = _new_moments(m[i], v[i], g[i], one_minus_beta_1, one_minus_beta_2, tiny)
        m[i] = mi
        v[i] = vi
        w[i] -= _adam_step(mi, vi, step_size, epsilon)


@kernel(internal=True, fastmath=FASTMATH)
def _amsgrad_moments(w, g, m, v, v_max, step_size, one_minus_beta_1, one_minus_beta_2,
                     epsilon):
    """Adam's sweep with amsgrad (Keras 3): as ``_adam_moments``, then
    v_max = max(v_max, v) and w -= step_size * m / (sqrt(v_max) + eps).
    w, g, m, v, v_max: (P,), updated in place."""
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    for i in range(w.shape[0]):
        mi, vi = _new_moments(m[i], v[i], g[i], one_minus_beta_1, one_minus_beta_2, tiny)
        m[i] = mi
        v[i] = vi
        top = max(v_max[i], vi)
        v_max[i] = top
        w[i] -= _adam_step(mi, top, step_size, epsilon)


@kernel(internal=True, fastmath=FASTMATH)
def _adam_update(w, g, m, v, step_size, beta_1, beta_2, epsilon, lr, weight_decay):
    """Keras 3 Adam (epsilon outside the root, bias correction folded into the step):

    m += (1-b1)*(g - m); v += (1-b2)*(g^2 - v); w -= step_size * m / (sqrt(v) + eps)
    with step_size = lr * sqrt(1 - b2^t) / (1 - b1^t); decoupled weight decay first
    (w -= lr * weight_decay * w). 1 - b1, 1 - b2 and lr * weight_decay are computed
    in the scalars' own type and rounded once to w's dtype: pass Python floats.
    """
    dtype = w.dtype.type
    if weight_decay != 0:
        _shrink(w, dtype(lr * weight_decay))
    _adam_moments(w, g, m, v, dtype(step_size), dtype(1.0 - beta_1), dtype(1.0 - beta_2),
                  dtype(epsilon))


@kernel(internal=True, fastmath=FASTMATH)
def _rmsprop_moments(w, g, ms, velocity, lr, rho, one_minus_rho, momentum, epsilon):
    """RMSprop's sweep with its coefficients ready in w's dtype (see ``rmsprop_update``).

    w, g, ms, velocity: (P,), updated in place; rho and 1 - rho each rounded once.
    """
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    if momentum == 0:
        for i in range(w.shape[0]):
            gi = g[i]
            s = _rms_mean_square(ms[i], gi, rho, one_minus_rho, tiny)
            ms[i] = s
            w[i] -= _rms_step(gi, s, lr, epsilon)
    else:
        for i in range(w.shape[0]):
            gi = g[i]
            s = _rms_mean_square(ms[i], gi, rho, one_minus_rho, tiny)
            ms[i] = s
            vi = _momentum_velocity(velocity[i], _rms_step(gi, s, lr, epsilon), momentum,
                                    tiny)
            velocity[i] = vi
            w[i] -= vi


@kernel(internal=True, fastmath=FASTMATH)
def _centered_rmsprop_moments(w, g, ms, velocity, mean, lr, rho, one_minus_rho, momentum,
                              epsilon):
    """Centered RMSprop's sweep (Keras 3): ms = rho*ms + (1-rho)*g^2;
    mean = rho*mean + (1-rho)*g; step = lr * g / sqrt(ms - mean^2 + eps); then as the
    uncentered one. w, g, ms, velocity, mean: (P,), updated in place."""
    tiny = w.dtype.type(np.finfo(w.dtype).tiny)
    for i in range(w.shape[0]):
        gi = g[i]
        s = _rms_mean_square(ms[i], gi, rho, one_minus_rho, tiny)
        ms[i] = s
        a = _rms_mean(mean[i], gi, rho, one_minus_rho, tiny)
        mean[i] = a
        step = _rms_step(gi, s - a * a, lr, epsilon)
        if momentum == 0:
            w[i] -= step
        else:
            vi = _momentum_velocity(velocity[i], step, momentum, tiny)
            velocity[i] = vi
            w[i] -= vi


@kernel(internal=True, fastmath=FASTMATH)
def _rmsprop_update(w, g, ms, velocity, lr, rho, momentum, epsilon, weight_decay):
    """Keras 3 RMSprop (uncentered): ms = rho*ms + (1-rho)*g^2;
    step = lr * g / sqrt(ms + eps); with momentum: v = mu*v + step, w -= v;
    else w -= step. Decoupled weight decay first. 1 - rho is computed in rho's own
    type and rounded once to w's dtype: pass Python floats."""
    dtype = w.dtype.type
    if weight_decay != 0:
        _decay(w, dtype(1) - dtype(lr) * dtype(weight_decay))
    _rmsprop_moments(w, g, ms, velocity, dtype(lr), dtype(rho), dtype(1.0 - rho),
                     dtype(momentum), dtype(epsilon))


# Slots of the ``hyper`` array (model dtype) that ``apply_update`` reads. The
# H_ONE_MINUS_* slots hold 1 - beta_1, 1 - beta_2 and 1 - rho computed in float64,
# then rounded once to the model's dtype.
(H_MOMENTUM, H_BETA_1, H_BETA_2, H_EPSILON, H_RHO, H_WEIGHT_DECAY,
 H_ONE_MINUS_BETA_1, H_ONE_MINUS_BETA_2, H_ONE_MINUS_RHO,
 H_CLIPNORM, H_CLIPVALUE, H_GLOBAL_CLIPNORM) = range(12)
N_HYPER = 12  # the H_CLIP* slots are 0 when unset (Keras: at most one is set)


@kernel(internal=True)
def _sum_squares(v):
    """sum_i v[i]^2 in float64. v: (n,)."""
    total = 0.0
    for i in range(v.shape[0]):
        total += float(v[i]) * float(v[i])
    return total


@kernel(internal=True)
def _scale_by(v, factor):
    """v *= factor (factor in v's dtype)."""
    for i in range(v.shape[0]):
        v[i] *= factor


@kernel(internal=True)
def _clip_by_norm(g, clipnorm):
    """Keras 3's per-variable clip: g = g * clipnorm / max(|g|, clipnorm), written
    as Keras writes it (so |g| <= clipnorm still rescales by clipnorm / clipnorm).
    g: (n,) one variable's gradient, overwritten; nothing happens when it is all 0."""
    total = _sum_squares(g)
    if total > 0:
        dtype = g.dtype.type
        c = dtype(clipnorm)
        bound = max(dtype(math.sqrt(total)), c)
        for i in range(g.shape[0]):
            g[i] = g[i] * c / bound


@kernel(internal=True)
def _clip_values(g, clipvalue):
    """g = clip(g, -clipvalue, clipvalue), elementwise."""
    c = g.dtype.type(clipvalue)
    for i in range(g.shape[0]):
        g[i] = min(max(g[i], -c), c)


@kernel(inline="always")
def _global_scale(total, clipnorm):
    """Keras 3's clip_by_global_norm factor for a global sum of squares: clipnorm *
    min(1 / norm, 1 / clipnorm), NaN when the norm is not finite."""
    norm = math.sqrt(total)
    return clipnorm * min(1.0 / norm, 1.0 / clipnorm) + (norm - norm)


@kernel(internal=True)
def _clip_gradients(g, sizes, has_bias, hyper, clip):
    """Clip one model's flat gradient g (P,) (the params layout: each layer's W then
    b) as the optimizer's hyper says: per variable (W_l, b_l) by clipnorm, all of g
    by global_clipnorm, or elementwise by clipvalue (Keras 3's precedence). clip:
    ``update_paths``'s; None compiles nothing."""
    if clip is None:
        return
    clipnorm, clipvalue = hyper[H_CLIPNORM], hyper[H_CLIPVALUE]
    global_clipnorm = hyper[H_GLOBAL_CLIPNORM]
    if clipnorm > 0:
        offset = 0
        for layer in range(sizes.shape[0] - 1):
            units = sizes[layer + 1]
            size = units * sizes[layer]
            _clip_by_norm(g[offset:offset + size], clipnorm)
            offset += size
            if has_bias[layer]:
                _clip_by_norm(g[offset:offset + units], clipnorm)
                offset += units
    elif global_clipnorm > 0:
        scale = _global_scale(_sum_squares(g), float(global_clipnorm))
        _scale_by(g, g.dtype.type(scale))
    elif clipvalue > 0:
        _clip_values(g, clipvalue)


def update_paths(codes, hyper):
    """The parts of the update kernels a fit takes, as the arguments that select them:
    (sgd, adam, rmsprop, clip, amsgrad, centered), True where taken and None where not.

    codes: the optimizer code, or one per model (``fit_many``); hyper: (N_HYPER,),
    or one row per model. Where an argument is None, Numba drops the branches that
    rules out before typing the rest, so a fit compiles only its optimizer family's
    rules, and gradient clipping only where a model asks for it: a cold first SGD
    fit of the seed network took 1.2-1.9 s less (11.1-11.2 s against 12.4-13.0),
    Adam with accuracy and a predict 1.5-1.8 s less. Each family (and clipping)
    compiles on its first use, and is cached. So do Adam's amsgrad and RMSprop's
    centered variants, with their third slot (a cold first fit of 8-32-32-1 with plain
    Adam: 6.6 s against 6.8-7.0 in a slow hour).
    """
    if isinstance(codes, (int, np.integer)):  # one model, each fit call: ~0.5 us, not 8
        families = (_FAMILY[int(codes)], int(codes))
        clips = hyper[H_CLIPNORM] > 0 or hyper[H_CLIPVALUE] > 0 or hyper[H_GLOBAL_CLIPNORM] > 0
    else:
        families = {_FAMILY[int(code)] for code in codes} | {int(code) for code in codes}
        clips = np.any(hyper[:, [H_CLIPNORM, H_CLIPVALUE, H_GLOBAL_CLIPNORM]] > 0)
    # Spelled out, not tuple(generator): such a tuple is allocated larger and shrunk,
    # and once freed joins CPython's free list of small tuples rather than coming from
    # it, so traced memory grew by one tuple a call, up to ~110 KB.
    return (True if SGD in families else None, True if ADAM in families else None,
            True if RMSPROP in families else None, True if clips else None,
            True if ADAM_AMSGRAD in families else None,
            True if RMSPROP_CENTERED in families else None)


_FAMILY = {SGD: SGD, SGD_NESTEROV: SGD, ADAM: ADAM, ADAM_AMSGRAD: ADAM, RMSPROP: RMSPROP,
           RMSPROP_CENTERED: RMSPROP}


@kernel(inline="always")
def _apply_update(w, g, slot_0, slot_1, slot_2, optimizer, hyper, lr, step_size, paths):
    """Dispatch one update of (a block of) the flat buffers on the optimizer code.

    w, g, slot_0, slot_1: (P,); slot_2: (P,) for amsgrad and centered RMSprop, else
    any (unread); hyper: (N_HYPER,) model dtype; lr, step_size: model dtype scalars;
    paths: ``update_paths``'s, the code's family among them.
    Slots: SGD velocity; Adam m, v (, max of v); RMSprop mean square, velocity
    (, mean gradient).
    Adam and RMSprop read their 1 - beta / 1 - rho from hyper's H_ONE_MINUS_* slots
    (rounded once from float64) and Adam's decay rate lr * weight_decay is formed in
    float64, all before the sweep.
    """
    sgd, adam, rmsprop, _, amsgrad, centered = paths
    _family_update(w, g, slot_0, slot_1, slot_2, optimizer, hyper, lr, step_size, sgd, adam,
                   rmsprop, amsgrad, centered)


@kernel(internal=True)
def _family_update(w, g, slot_0, slot_1, slot_2, optimizer, hyper, lr, step_size, sgd, adam,
                   rmsprop, amsgrad, centered):
    """``_apply_update``'s dispatch, compiled with only the families, and the variants
    with a third slot (amsgrad, centered), not None."""
    decay = hyper[H_WEIGHT_DECAY]
    if sgd is not None:
        if optimizer == SGD or optimizer == SGD_NESTEROV:
            _sgd_update(w, g, slot_0, lr, hyper[H_MOMENTUM], decay,
                        optimizer == SGD_NESTEROV)
    if adam is not None:
        if optimizer == ADAM or optimizer == ADAM_AMSGRAD:
            if decay != 0:
                _shrink(w, w.dtype.type(np.float64(lr) * np.float64(decay)))
            if amsgrad is not None and optimizer == ADAM_AMSGRAD:
                _amsgrad_moments(w, g, slot_0, slot_1, slot_2, step_size,
                                 hyper[H_ONE_MINUS_BETA_1], hyper[H_ONE_MINUS_BETA_2],
                                 hyper[H_EPSILON])
            else:
                _adam_moments(w, g, slot_0, slot_1, step_size, hyper[H_ONE_MINUS_BETA_1],
                              hyper[H_ONE_MINUS_BETA_2], hyper[H_EPSILON])
    if rmsprop is not None:
        if optimizer == RMSPROP or optimizer == RMSPROP_CENTERED:
            if decay != 0:
                _decay(w, w.dtype.type(1) - lr * decay)
            if centered is not None and optimizer == RMSPROP_CENTERED:
                _centered_rmsprop_moments(w, g, slot_0, slot_1, slot_2, lr, hyper[H_RHO],
                                          hyper[H_ONE_MINUS_RHO], hyper[H_MOMENTUM],
                                          hyper[H_EPSILON])
            else:
                _rmsprop_moments(w, g, slot_0, slot_1, lr, hyper[H_RHO],
                                 hyper[H_ONE_MINUS_RHO], hyper[H_MOMENTUM], hyper[H_EPSILON])


# Python entry points of the kernels above (see ``_jit.python_entry``).
sgd_update = python_entry(_sgd_update)
adam_update = python_entry(_adam_update)
rmsprop_update = python_entry(_rmsprop_update)
apply_update = python_entry(_apply_update)
