"""Optimizer updates on the device: one thread per parameter over the flat buffers.

Same rules, same order of operations and the same denormal flush as
kernels/optimizers.py (Keras 3 SGD with momentum/Nesterov, Adam, RMSprop; decoupled
weight decay first), with every constant in the model's dtype so float32 math stays
float32 on the device (float32 results may differ from the CPU's by an ulp).
The step's ``lr`` and ``step_size`` (Adam's bias-corrected rate) are read from row
``batch`` of the device array ``rates`` (n_batches, 2), so a whole epoch of updates
(and its learning-rate schedule) needs no host round-trip.
"""
import numpy as np

from ._backend import cuda

from ..codes import (ADAM, ADAM_AMSGRAD, RMSPROP, RMSPROP_CENTERED, SGD, SGD_NESTEROV,
                     T_DIVERGED)
from ..optimizers import (H_EPSILON, H_MOMENTUM, H_ONE_MINUS_BETA_1, H_ONE_MINUS_BETA_2,
                          H_ONE_MINUS_RHO, H_RHO, H_WEIGHT_DECAY)
from .launch import flat_grid
from .rules import DEVICE

_TINY_32 = float(np.finfo(np.float32).tiny)
_TINY_64 = float(np.finfo(np.float64).tiny)


@cuda.jit(device=True)
def _tiny(w):
    """The smallest normal number of w's dtype, in that dtype."""
    if w.itemsize == 4:
        return w.dtype.type(_TINY_32)
    return w.dtype.type(_TINY_64)


# The per-parameter steps of kernels/rules.py, as device functions.
_sgd_velocity = DEVICE.sgd_velocity
_new_moments = DEVICE.adam_moments
_adam_step = DEVICE.adam_step
_rms_mean_square = DEVICE.rms_mean_square
_rms_mean = DEVICE.rms_mean
_rms_step = DEVICE.rms_step
_momentum_velocity = DEVICE.momentum_velocity


@cuda.jit(cache=True)
def update_params(w, g, state, totals, hyper, rates, batch, optimizer):
    """One optimizer step over the flat buffers; one thread per parameter, grid-stride.

    w, g: (P,), w updated in place; state: (2, P) slots (SGD velocity | Adam m, v |
    RMSprop mean square, velocity), (3, P) with amsgrad's max of v or centered
    RMSprop's mean gradient, updated; hyper: (N_HYPER,) model dtype;
    rates: (n_batches, 2) [lr, step_size], row ``batch`` is used; does nothing once
    totals[T_DIVERGED] is set (the batch's loss was not finite).

    SGD: v = mu*v - lr*g; w += v (Nesterov: w += mu*v - lr*g); no momentum: w -= lr*g.
    Adam: m += (1-b1)*(g - m); v += (1-b2)*(g^2 - v); w -= step_size*m/(sqrt(v)+eps),
    weight decay first as w -= (lr*weight_decay)*w with the rate formed in float64.
    RMSprop: ms = rho*ms + (1-rho)*g^2; step = lr*g/sqrt(ms+eps); w -= step (or
    v = mu*v + step; w -= v). SGD and RMSprop decay first: w *= 1 - lr*weight_decay.
    1 - b1, 1 - b2 and 1 - rho come from hyper's H_ONE_MINUS_* slots (rounded once).
    """
    if totals[T_DIVERGED] != 0:
        return
    lr = rates[batch, 0]
    step_size = rates[batch, 1]
    tiny = _tiny(w)
    one = w.dtype.type(1)
    weight_decay = hyper[H_WEIGHT_DECAY]
    factor = one - lr * weight_decay
    decay_rate = w.dtype.type(float(lr) * float(weight_decay))  # Adam's, rounded once
    momentum = hyper[H_MOMENTUM]
    epsilon = hyper[H_EPSILON]
    for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        if weight_decay != 0:
            if optimizer == ADAM or optimizer == ADAM_AMSGRAD:
                w[i] -= decay_rate * w[i]
            else:
                w[i] *= factor
        gi = g[i]
        if optimizer == SGD or optimizer == SGD_NESTEROV:
            if momentum == 0:
                w[i] -= lr * gi
            else:
                v = _sgd_velocity(state[0, i], gi, lr, momentum, tiny)
                state[0, i] = v
                if optimizer == SGD_NESTEROV:
                    w[i] += momentum * v - lr * gi
                else:
                    w[i] += v
        elif optimizer == ADAM or optimizer == ADAM_AMSGRAD:
            mi, vi = _new_moments(state[0, i], state[1, i], gi, hyper[H_ONE_MINUS_BETA_1],
                                  hyper[H_ONE_MINUS_BETA_2], tiny)
            state[0, i] = mi
            state[1, i] = vi
            if optimizer == ADAM_AMSGRAD:  # Keras 3: the running max of v
                vi = max(state[2, i], vi)
                state[2, i] = vi
            w[i] -= _adam_step(mi, vi, step_size, epsilon)
        elif optimizer == RMSPROP or optimizer == RMSPROP_CENTERED:
            s = _rms_mean_square(state[0, i], gi, hyper[H_RHO], hyper[H_ONE_MINUS_RHO], tiny)
            state[0, i] = s
            if optimizer == RMSPROP_CENTERED:  # Keras 3: minus the squared mean gradient
                a = _rms_mean(state[2, i], gi, hyper[H_RHO], hyper[H_ONE_MINUS_RHO], tiny)
                state[2, i] = a
                s = s - a * a
            step = _rms_step(gi, s, lr, epsilon)
            if momentum == 0:
                w[i] -= step
            else:
                vi = _momentum_velocity(state[1, i], step, momentum, tiny)
                state[1, i] = vi
                w[i] -= vi


def apply_update(w, g, state, totals, hyper, rates, batch, optimizer):
    """Launch ``update_params`` over w (host side; see the kernel's docstring).

    All arrays on the device; ``batch`` and ``optimizer`` are host ints.
    """
    grid, block = flat_grid(w.shape[0])
    update_params[grid, block](w, g, state, totals, hyper, rates, int(batch), int(optimizer))
