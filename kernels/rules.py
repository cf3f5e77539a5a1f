"""The per-element and per-row rules, written once for the CPU and the CUDA kernels.

Each rule is a plain Python function over scalars or one row (a 1-D array view):
an activation and its derivative, a loss's term and delta, an optimizer's step.
``compile_rules`` compiles all of them for one target: ``CPU`` below, inlined into
the ``@njit`` kernels, and ``kernels/cuda/rules.DEVICE``, ``cuda.jit(device=True)``
functions. The kernels keep only what differs between the
targets: loops, launches, reductions, prefetches.

What both targets compile: the math module, scalar arithmetic, indexing and
comparisons; no allocation, no NumPy functions. Every constant arrives as an
argument in the array's dtype (``zero``, ``one``, ``tiny``, ...) or is made with
``x.dtype.type``, so float32 math stays float32: a bare ``1.0`` would promote it to
float64. ``fastnn.reference`` states the same math again in NumPy, on purpose: it is
the tests' oracle.

``from_logits`` is 0, 1 or None (a CPU fit whose loss reads probabilities,
``losses.kernel_codes``), always tested as ``from_logits is not None and
from_logits``: a called kernel given None drops its logits path before typing.
"""
import math
import types

from ._jit import kernel
from .codes import (BINARY_ACCURACY, BINARY_CROSSENTROPY, CATEGORICAL_ACCURACY,
                    CATEGORICAL_CROSSENTROPY, HUBER, LEAKY_RELU, MAE, MSE, PROB_EPSILON,
                    RELU, SIGMOID, SOFTMAX, SPARSE_ACCURACY,
                    SPARSE_CATEGORICAL_CROSSENTROPY, SSE, TANH)


# Activations. Derivatives read the saved output a = f(z), never z.

def sigmoid(z, one):
    """1 / (1 + exp(-z)), branched on the sign so exp never overflows: exp(-|z|) <= 1."""
    if z >= 0:
        return one / (one + math.exp(-z))
    e = math.exp(z)
    return e / (one + e)


def activate(z, code, zero, one, slope):
    """f(z) of one element; linear and softmax give z (softmax is a row rule)."""
    if code == RELU:
        return max(z, zero)
    if code == SIGMOID:
        return sigmoid(z, one)
    if code == TANH:
        return math.tanh(z)
    if code == LEAKY_RELU:
        return z * slope if z < zero else z
    return z


def derivative(d, a, code, zero, one, slope):
    """d * f'(z) of one element from the saved output a = f(z) (linear, softmax: d)."""
    if code == RELU:
        return zero if a <= zero else d
    if code == SIGMOID:
        return d * (a * (one - a))
    if code == TANH:
        return d * (one - a * a)
    if code == LEAKY_RELU:
        return d * slope if a < zero else d
    return d


def row_max(p):
    """max_j p[j] of one row (the shift that keeps exp from overflowing)."""
    top = p[0]
    for j in range(1, p.shape[0]):
        top = max(top, p[j])
    return top


def softmax_row(z):
    """z = exp(z - max(z)) / sum, in place. z: (units,)."""
    peak = row_max(z)
    total = z.dtype.type(0)
    for j in range(z.shape[0]):
        z[j] = math.exp(z[j] - peak)
        total += z[j]
    inverse = z.dtype.type(1) / total
    for j in range(z.shape[0]):
        z[j] *= inverse


def softmax_backward_row(d, a):
    """d_j = a_j (d_j - sum_k d_k a_k), in place: the softmax Jacobian-vector product
    at the saved output a. d, a: (units,)."""
    dot = d.dtype.type(0)
    for j in range(d.shape[0]):
        dot += d[j] * a[j]
    for j in range(d.shape[0]):
        d[j] = a[j] * (d[j] - dot)


# Losses. A row p is one sample's outputs (units,); its targets are row ``sample`` of
# y (N, units), or of the sparse integer labels (N,) read as one-hot rows.

def huber(e, delta, half):
    """Huber's term of an error e: e^2 / 2 where |e| <= delta, else
    delta |e| - delta^2 / 2 (``half`` is 0.5 in e's dtype)."""
    a = abs(e)
    return half * e * e if a <= delta else delta * a - half * delta * delta


def huber_slope(e, delta):
    """d huber / de: e clipped to [-delta, delta]."""
    return min(max(e, -delta), delta)


def sign(e, one):
    """d|e| / de: -1, 0 or 1 (``one`` in e's dtype; 0 at 0, as JAX's abs)."""
    return one if e > 0 else (-one if e < 0 else one - one)


def softplus(x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return max(x, x - x) + math.log1p(math.exp(-abs(x)))


def target(y, labels, sample, j, sparse):
    """y[sample, j], reading sparse integer labels as one-hot rows."""
    if sparse:
        return y.dtype.type(1) if labels[sample] == j else y.dtype.type(0)
    return y[sample, j]


def smoothing(code, label_smoothing, units, p):
    """(keep, add) in p's dtype: Keras's smoothed target is keep * t + add; (1, 0) when
    the loss has no smoothing (exact: 1 * t + 0 is t)."""
    if label_smoothing == 0 or (code != CATEGORICAL_CROSSENTROPY
                                and code != BINARY_CROSSENTROPY):
        return p.dtype.type(1), p.dtype.type(0)
    share = 0.5 if code == BINARY_CROSSENTROPY else 1.0 / units
    return p.dtype.type(1.0 - label_smoothing), p.dtype.type(label_smoothing * share)


def row_scale(code, w, batch_rows, units, p):
    """The factor of a row's delta, in p's dtype: its sample weight w over the batch's
    rows (sse: no 1/n), and over its units where the loss averages them."""
    scale = 1.0 if code == SSE else 1.0 / batch_rows
    per_output = 1.0
    if code != SSE and code != CATEGORICAL_CROSSENTROPY and (
            code != SPARSE_CATEGORICAL_CROSSENTROPY):
        per_output = 1.0 / units
    return p.dtype.type(scale * float(w) * per_output)


def collapses(code, from_logits, activation):
    """Whether softmax + categorical or sigmoid + binary cross-entropy make the
    output delta y_hat - y (not from logits)."""
    if from_logits is not None and from_logits:
        return False
    categorical = code == CATEGORICAL_CROSSENTROPY or code == SPARSE_CATEGORICAL_CROSSENTROPY
    return ((activation == SOFTMAX and categorical)
            or (activation == SIGMOID and code == BINARY_CROSSENTROPY))


def row_sum(p):
    """S = sum_j p[j] of one row, in p's dtype."""
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        total += p[j]
    return total


def log_sum_exp(p):
    """log(sum_j exp(p[j])) of one row, max-shifted."""
    top = row_max(p)
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        total += math.exp(p[j] - top)
    return top + math.log(total)


def argmax(row):
    """Index of the first maximum of one row."""
    best = 0
    for j in range(1, row.shape[0]):
        if row[j] > row[best]:
            best = j
    return best


def categorical(code):
    """Whether a loss is a categorical cross-entropy (dense or sparse targets): a rule
    over a whole row, where the others treat outputs one by one."""
    return code == CATEGORICAL_CROSSENTROPY or code == SPARSE_CATEGORICAL_CROSSENTROPY


def sample_loss(p, y, labels, sample, code, from_logits, keep, add, width):
    """L of one sample from its output row p: summed over outputs for sse and the
    cross-entropies, averaged for mse, mae, huber and binary cross-entropy (as
    Keras); targets are keep * t + add (label smoothing); width is Huber's delta in
    p's dtype."""
    if categorical(code):
        return xent_loss(p, y, labels, sample, code == SPARSE_CATEGORICAL_CROSSENTROPY,
                         from_logits, keep, add)
    one = p.dtype.type(1)
    half = p.dtype.type(0.5)
    eps = p.dtype.type(PROB_EPSILON)
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        t = keep * y[sample, j] + add
        total += output_loss(p[j], t, code, from_logits, width, half, one, eps)
    return output_mean(total, code, p.shape[0], half)


def xent_loss(p, y, labels, sample, sparse, from_logits, keep, add):
    """-sum_j t_j log(q_j) of one row, t_j = keep * y_j + add: q = p / sum(p) clipped
    (Keras's normalization), or log q = log_softmax(p) from logits."""
    one = p.dtype.type(1)
    eps = p.dtype.type(PROB_EPSILON)
    total = p.dtype.type(0)
    if from_logits is not None and from_logits:
        lse = log_sum_exp(p)
        for j in range(p.shape[0]):
            t = keep * target(y, labels, sample, j, sparse) + add
            if t != 0:
                total += t * (lse - p[j])
        return total
    s = row_sum(p)
    for j in range(p.shape[0]):
        t = keep * target(y, labels, sample, j, sparse) + add
        if t != 0:
            total -= t * math.log(min(max(p[j] / s, eps), one - eps))
    return total


def output_loss(p, t, code, from_logits, width, half, one, eps):
    """The term of one output p with target t, for the losses that treat outputs one
    by one (mse, sse, mae, huber, binary cross-entropy); half, one and eps
    (PROB_EPSILON) in p's dtype, width Huber's delta."""
    e = p - t
    if code == MSE or code == SSE:
        return e * e
    if code == MAE:
        return abs(e)
    if code == HUBER:
        return huber(e, width, half)
    if from_logits is not None and from_logits:
        return softplus(p) - t * p
    q = min(max(p, eps), one - eps)
    return -(t * math.log(q) + (one - t) * math.log(one - q))


def output_mean(total, code, units, half):
    """A sample's loss from the sum of its outputs' terms: half of it for sse (the
    seeds' E), their mean for the others."""
    if code == SSE:
        return total * half
    return total / units


def normalized_xent_delta(d, p, y, labels, sample, sparse, scale, keep, add):
    """d = scale * dL/dp for L = -sum_j t_j log(clip(p_j / S)), S = sum_j p_j,
    t_j = keep * y_j + add (label smoothing).

    d, p: (units,) rows, d overwritten. With q_j = p_j / S and the clip's own
    derivative (1 inside [eps, 1 - eps], 0 outside, as Keras's autodiff):
    dL/dp_k = (m - [q_k inside] t_k / q_k) / S, where m is the sum of t_j over the
    j whose q_j lies inside the clip. Targets summing to 1 with no clip give
    1/S - t_k/p_k.
    """
    one = p.dtype.type(1)
    eps = p.dtype.type(PROB_EPSILON)
    s = row_sum(p)
    mass = p.dtype.type(0)
    for j in range(p.shape[0]):
        t = keep * target(y, labels, sample, j, sparse) + add
        q = p[j] / s
        if t != 0 and q >= eps and q <= one - eps:
            mass += t
    inverse = scale / s
    for j in range(p.shape[0]):
        t = keep * target(y, labels, sample, j, sparse) + add
        q = p[j] / s
        inside = t != 0 and q >= eps and q <= one - eps
        d[j] = inverse * (mass - t / q) if inside else inverse * mass


def logits_xent_delta(d, p, y, labels, sample, sparse, scale, keep, add):
    """d = scale * dL/dp for L = -sum_j t_j log_softmax(p)_j (from logits):
    dL/dp_k = softmax(p)_k * sum_j t_j - t_k. d, p: (units,) rows, d overwritten."""
    lse = log_sum_exp(p)
    mass = p.dtype.type(0)
    for j in range(p.shape[0]):
        mass += keep * target(y, labels, sample, j, sparse) + add
    for j in range(p.shape[0]):
        t = keep * target(y, labels, sample, j, sparse) + add
        d[j] = scale * (math.exp(p[j] - lse) * mass - t)


def output_grad(p, t, code, collapsed, from_logits, width, one, eps):
    """dL/dp of one output element p with target t, for the losses that treat outputs
    one by one (collapsed: y_hat - y, the delta at z already); width: Huber's delta,
    one and eps (PROB_EPSILON) in p's dtype."""
    if code == MSE:
        return (p - t) + (p - t)
    if code == SSE or collapsed:
        return p - t
    if code == MAE:
        return sign(p - t, one)
    if code == HUBER:
        return huber_slope(p - t, width)
    if from_logits is not None and from_logits:  # binary cross-entropy from logits
        return sigmoid(p, one) - t
    q = min(max(p, eps), one - eps)  # binary cross-entropy after a non-sigmoid output
    return (q - t) / (q * (one - q))


def row_delta(d, p, y, labels, sample, code, from_logits, collapsed, scale, keep, add,
              width):
    """d = scale * dL/dp of one row, or scale * dL/dz when ``collapsed`` (softmax or
    sigmoid with its cross-entropy). d, p: (units,) rows, d overwritten; the output
    activation's derivative is the caller's (a batch pass on the CPU)."""
    if categorical(code):
        xent_delta(d, p, y, labels, sample, code == SPARSE_CATEGORICAL_CROSSENTROPY,
                   from_logits, collapsed, scale, keep, add)
        return
    one = p.dtype.type(1)
    eps = p.dtype.type(PROB_EPSILON)
    for j in range(p.shape[0]):
        t = keep * y[sample, j] + add
        d[j] = scale * output_grad(p[j], t, code, collapsed, from_logits, width, one, eps)


def xent_delta(d, p, y, labels, sample, sparse, from_logits, collapsed, scale, keep, add):
    """d = scale * dL/dp of a categorical cross-entropy's row (``xent_loss``), or
    scale * (y_hat - y), its delta at z, when ``collapsed`` into its softmax."""
    if from_logits is not None and from_logits:
        logits_xent_delta(d, p, y, labels, sample, sparse, scale, keep, add)
    elif not collapsed:
        normalized_xent_delta(d, p, y, labels, sample, sparse, scale, keep, add)
    else:
        for j in range(p.shape[0]):
            d[j] = scale * (p[j] - (keep * target(y, labels, sample, j, sparse) + add))


def output_loss_delta(d, p, y, sample, code, from_logits, collapsed, scale, keep, add,
                      width):
    """``sample_loss`` and ``row_delta`` in one pass over a row, for the losses that
    treat outputs one by one (never sparse): d = scale * dL/dp (dL/dz when
    ``collapsed``), overwritten; returns L. The training kernels' row step: it reads
    each output and target once."""
    one = p.dtype.type(1)
    half = p.dtype.type(0.5)
    eps = p.dtype.type(PROB_EPSILON)
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        t = keep * y[sample, j] + add
        total += output_loss(p[j], t, code, from_logits, width, half, one, eps)
        d[j] = scale * output_grad(p[j], t, code, collapsed, from_logits, width, one, eps)
    return output_mean(total, code, p.shape[0], half)


def row_correct(p, y, labels, sample, accuracy, sparse):
    """1.0 when row p classifies its sample right, else 0.0 (binary: the fraction of
    outputs on the right side of 0.5); 0.0 without accuracy."""
    if accuracy == SPARSE_ACCURACY:
        return 1.0 if argmax(p) == labels[sample] else 0.0
    if accuracy == CATEGORICAL_ACCURACY:
        return 1.0 if argmax(p) == argmax(y[sample]) else 0.0
    if accuracy == BINARY_ACCURACY:
        hits = 0
        for j in range(p.shape[0]):
            t = target(y, labels, sample, j, sparse)
            if (p[j] > 0.5) == (t > 0.5):
                hits += 1
        return hits / p.shape[0]
    return 0.0


def row_errors(p, y, labels, sample, sparse):
    """(sum_j e_j^2, sum_j |e_j|) in float64 of row p's errors e = p - t."""
    squared = 0.0
    absolute = 0.0
    for j in range(p.shape[0]):
        e = p[j] - target(y, labels, sample, j, sparse)
        squared += float(e * e)
        absolute += float(abs(e))
    return squared, absolute


# Optimizer steps on one parameter; coefficients arrive in the parameter's dtype.

def flush(value, tiny):
    """0 when |value| < tiny (the dtype's smallest normal number), else value; NaN
    passes through. ``value - value`` keeps the dtype."""
    return value - value if abs(value) < tiny else value


def sgd_velocity(v, g, lr, momentum, tiny):
    """SGD's new velocity mu*v - lr*g."""
    return flush(momentum * v - lr * g, tiny)


def adam_moments(m, v, g, one_minus_beta_1, one_minus_beta_2, tiny):
    """Adam's new (m, v) in Keras 3's order: m + (1-b1)*(g - m), v + (1-b2)*(g^2 - v)."""
    return (flush(m + one_minus_beta_1 * (g - m), tiny),
            flush(v + one_minus_beta_2 * (g * g - v), tiny))


def adam_step(m, v, step_size, epsilon):
    """Adam's step step_size * m / (sqrt(v) + eps) (epsilon outside the root)."""
    return step_size * m / (math.sqrt(v) + epsilon)


def rms_mean_square(ms, g, rho, one_minus_rho, tiny):
    """RMSprop's new mean square rho*ms + (1-rho)*g^2."""
    return flush(rho * ms + one_minus_rho * g * g, tiny)


def rms_mean(mean, g, rho, one_minus_rho, tiny):
    """Centered RMSprop's new mean gradient rho*mean + (1-rho)*g."""
    return flush(rho * mean + one_minus_rho * g, tiny)


def rms_step(g, s, lr, epsilon):
    """RMSprop's step lr * g / sqrt(s + eps), s the (centered) mean square."""
    return lr * g / math.sqrt(s + epsilon)


def momentum_velocity(v, step, momentum, tiny):
    """RMSprop's new velocity mu*v + step."""
    return flush(momentum * v + step, tiny)


RULES = (sigmoid, activate, derivative, row_max, softmax_row, softmax_backward_row,
         huber, huber_slope, sign, softplus, target, smoothing, row_scale, collapses,
         row_sum, log_sum_exp, argmax, categorical, output_loss, output_mean, xent_loss,
         sample_loss, normalized_xent_delta, logits_xent_delta, output_grad, xent_delta,
         row_delta, output_loss_delta, row_correct, row_errors,
         flush, sgd_velocity, adam_moments, adam_step, rms_mean_square, rms_mean,
         rms_step,
         momentum_velocity)


def compile_rules(decorate, decorate_called=None):
    """Every rule compiled by ``decorate`` (a jit decorator), as a namespace; the
    CALLED rules by ``decorate_called`` when given, under private names, with their
    ``decorate`` twins in ``namespace.inlined``.

    Each rule is compiled from a copy of its function whose globals name the other
    rules compiled for the same target, so a rule that calls another calls that
    target's version. The copies keep their code and file.
    """
    scope = dict(globals())
    inlined = {}
    for rule in RULES:
        called = decorate_called is not None and rule.__name__ in CALLED
        scope[rule.__name__] = (decorate_called if called else decorate)(
            _copy(rule, scope, "_" + rule.__name__ if called else rule.__name__))
        if called:
            inlined[rule.__name__] = decorate(_copy(rule, scope, rule.__name__))
    namespace = types.SimpleNamespace(**{rule.__name__: scope[rule.__name__]
                                         for rule in RULES})
    namespace.inlined = types.SimpleNamespace(**inlined)
    return namespace


def _copy(rule, scope, name):
    """A copy of a rule's function named ``name`` whose globals are ``scope``."""
    copy = types.FunctionType(rule.__code__, scope, name, rule.__defaults__, rule.__closure__)
    copy.__qualname__, copy.__doc__ = name, rule.__doc__
    copy.__module__ = rule.__module__
    return copy


# A row's loss and delta, compiled once as called kernels on the CPU: inlined, Numba
# copied their IR (with the rules inlined into them) into each caller, and a cold
# first fit took 18.3-19.1 s of CPU against 16.0-16.2 s as calls, with the same epoch
# times. The training kernels call ``output_loss_delta`` (one call a row) for the
# losses that treat outputs one by one, the two cross-entropy rules for the others:
# sample_loss and row_delta in two calls took 24% of fit_many's step on 64 x
# 8-32-32-1 (mse, one thread), one call 10%, 9-14% off the step; the 3-4-1 seed
# network's epoch 0.91 against 0.99-1.06 us. fit_many's row loop, which runs it for
# every model of a block in each row, inlines it (``inlined``): 5-8% off its step.
CALLED = ("xent_loss", "xent_delta", "output_loss_delta")

# The rules as the CPU kernels call them: inlined at Numba's level into each kernel,
# so they cost no call and no separate compilation (see ``_jit``), except CALLED.
CPU = compile_rules(kernel(inline="always"), kernel(internal=True))
