"""The plain NumPy version of fastnn's math: "deep learning with NumPy", readable.

Weights are in Keras's (n_in, n_out) orientation (``l1 = f(l0 @ W0 + b0)``, as the
seeds write it). Tests check the compiled kernels against these functions and the
benchmarks report the kernels' speed as a ratio to ``ReferenceMLP.train_epoch``.
"""
import numpy as np

EPSILON = 1e-7          # Keras's probability clip inside cross-entropy logs
LEAKY_SLOPE = 0.2       # Keras 3 activations.leaky_relu default


def sigmoid(z):
    """1 / (1 + exp(-z)), computed without overflow for either sign."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z):
    """Row-wise softmax, max-shifted."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def activate(z, name):
    """f(z) for an activation name."""
    if name == "linear":
        return z
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z < 0, LEAKY_SLOPE * z, z)
    if name == "softmax":
        return softmax(z)
    raise ValueError(f"unknown activation {name!r}")


def activation_backward(d, a, name):
    """dL/dz from dL/da and the saved output a = f(z)."""
    if name == "linear":
        return d
    if name == "sigmoid":
        return d * a * (1 - a)
    if name == "tanh":
        return d * (1 - a * a)
    if name == "relu":
        return d * (a > 0)
    if name == "leaky_relu":
        return np.where(a < 0, LEAKY_SLOPE * d, d)
    if name == "softmax":
        return a * (d - (d * a).sum(axis=1, keepdims=True))
    raise ValueError(f"unknown activation {name!r}")


def forward(weights, biases, activations, x):
    """[x, a1, ..., aL]: every layer's output. biases[l] may be None."""
    outputs = [x]
    for w, b, name in zip(weights, biases, activations):
        z = outputs[-1] @ w
        if b is not None:
            z = z + b
        outputs.append(activate(z, name))
    return outputs


def smooth_targets(y, loss, label_smoothing):
    """Keras 3's label smoothing: toward 1/2 (binary) or 1/units (categorical)."""
    if not label_smoothing:
        return y
    if loss == "binary_crossentropy":
        return y * (1 - label_smoothing) + 0.5 * label_smoothing
    if loss == "categorical_crossentropy":
        return y * (1 - label_smoothing) + label_smoothing / y.shape[1]
    return y


def log_softmax(z):
    """Row-wise log(softmax(z)), max-shifted."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def sample_losses(out, y, loss, from_logits=False, label_smoothing=0.0, delta=1.0):
    """Per-sample loss L_i (Keras's conventions; sse is the seeds' E = 1/2 sum (y - y_hat)^2).

    The categorical cross-entropies divide each row by its sum before the clip and the
    log, as Keras 3 does when the loss does not take logits; from logits they take the
    log-softmax, and the binary one max(x, 0) - x t + log(1 + exp(-|x|)).
    """
    y = smooth_targets(y, loss, label_smoothing)
    if loss == "mse":
        return ((out - y) ** 2).mean(axis=1)
    if loss == "mae":
        return np.abs(out - y).mean(axis=1)
    if loss == "huber":
        e = np.abs(out - y)
        return np.where(e <= delta, 0.5 * e * e, delta * e - 0.5 * delta * delta).mean(axis=1)
    if from_logits and loss == "binary_crossentropy":
        return (np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out)))).mean(axis=1)
    if from_logits:
        return -(y * log_softmax(out)).sum(axis=1)
    if loss == "sse":
        return 0.5 * ((out - y) ** 2).sum(axis=1)
    if loss == "binary_crossentropy":
        q = np.clip(out, EPSILON, 1 - EPSILON)
        return -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
    if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        q = np.clip(out / out.sum(axis=1, keepdims=True), EPSILON, 1 - EPSILON)
        return -(y * np.log(q)).sum(axis=1)
    raise ValueError(f"unknown loss {loss!r}")


def normalized_xent_gradient(out, y):
    """dL/d(out) of L = -sum_j y_j log(clip(out_j / S)), S = the row's sum, per row.

    The chain rule through the clip (derivative 1 inside [EPSILON, 1 - EPSILON], 0
    outside) and then through the division by S:
    dL/dout_k = (g_k - sum_j g_j q_j) / S with q = out / S and g = dL/dq.
    """
    s = out.sum(axis=1, keepdims=True)
    q = out / s
    inside = (q >= EPSILON) & (q <= 1 - EPSILON)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(inside & (y != 0), -y / q, 0.0)
    return (g - (g * q).sum(axis=1, keepdims=True)) / s


def output_delta(out, y, loss, activation, sample_weight=None, from_logits=False,
                 label_smoothing=0.0, delta=1.0):
    """dJ/dz of the output layer for J = sum_i w_i L_i / n (sse: no 1/n, as E)."""
    n, units = out.shape
    y = smooth_targets(y, loss, label_smoothing)
    w = np.ones(n, dtype=out.dtype) if sample_weight is None else sample_weight
    scale = (w / n)[:, None] if loss != "sse" else w[:, None]
    if not from_logits and (
            (activation == "softmax" and loss.endswith("categorical_crossentropy"))
            or (activation == "sigmoid" and loss == "binary_crossentropy")):
        per_output = 1 / units if loss == "binary_crossentropy" else 1
        return scale * per_output * (out - y)
    if from_logits and loss == "binary_crossentropy":
        grad = (sigmoid(out) - y) / units
    elif from_logits:
        grad = np.exp(log_softmax(out)) * y.sum(axis=1, keepdims=True) - y
    elif loss == "mse":
        grad = 2 * (out - y) / units
    elif loss == "mae":
        grad = np.sign(out - y) / units
    elif loss == "huber":
        grad = np.clip(out - y, -delta, delta) / units
    elif loss == "sse":
        grad = out - y
    elif loss == "binary_crossentropy":
        q = np.clip(out, EPSILON, 1 - EPSILON)
        grad = (q - y) / (q * (1 - q)) / units
    else:
        grad = normalized_xent_gradient(out, y)
    return activation_backward(scale * grad, out, activation)


def backward(weights, outputs, delta, activations):
    """Gradients ([dW_l], [db_l]) from the output-layer delta dJ/dz_L."""
    grads_w, grads_b = [None] * len(weights), [None] * len(weights)
    for layer in range(len(weights) - 1, -1, -1):
        grads_w[layer] = outputs[layer].T @ delta
        grads_b[layer] = delta.sum(axis=0)
        if layer > 0:
            delta = activation_backward(delta @ weights[layer].T, outputs[layer],
                                        activations[layer - 1])
    return grads_w, grads_b


def sgd_step(params, grads, velocities, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """Keras 3 SGD on lists of arrays, in place."""
    for p, g, v in zip(params, grads, velocities):
        p -= lr * weight_decay * p
        if momentum == 0:
            p -= lr * g
            continue
        v[...] = momentum * v - lr * g
        p += momentum * v - lr * g if nesterov else v


def adam_step(params, grads, ms, vs, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
              weight_decay=0.0, amsgrad=False, v_maxes=None):
    """Keras 3 Adam at step t (1-based), in place, in Keras's order of operations.

    The Python-float coefficients (1 - beta_1, lr * weight_decay, ...) are rounded
    once to the arrays' dtype (NumPy's rule for Python scalars). With ``amsgrad``,
    ``v_maxes`` keep the running maximum of v, which the step divides by.
    """
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    for i, (p, g, m, v) in enumerate(zip(params, grads, ms, vs)):
        p -= lr * weight_decay * p
        m += (1 - beta_1) * (g - m)
        v += (1 - beta_2) * (g * g - v)
        if amsgrad:
            np.maximum(v_maxes[i], v, out=v_maxes[i])
            v = v_maxes[i]
        p -= alpha * m / (np.sqrt(v) + epsilon)


def rmsprop_step(params, grads, mean_squares, velocities, lr, rho=0.9, momentum=0.0,
                 epsilon=1e-7, weight_decay=0.0, centered=False, means=None):
    """Keras 3 RMSprop, in place; ``centered`` keeps the mean gradients in ``means``
    and divides by sqrt(s - mean^2 + epsilon)."""
    for i, (p, g, s, v) in enumerate(zip(params, grads, mean_squares, velocities)):
        p -= lr * weight_decay * p
        s[...] = rho * s + (1 - rho) * g * g
        if centered:
            means[i][...] = rho * means[i] + (1 - rho) * g
            step = lr * g / np.sqrt(s - means[i] * means[i] + epsilon)
        else:
            step = lr * g / np.sqrt(s + epsilon)
        if momentum == 0:
            p -= step
        else:
            v[...] = momentum * v + step
            p -= v


def clip_gradients(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Keras 3's gradient clipping of a list of arrays (at most one option set):
    per array g * c / max(|g|, c), all of them by c / max(|all|, c), or by value."""
    if clipnorm:
        return [g * clipnorm / max(np.sqrt((g * g).sum()), clipnorm) if (g * g).sum() > 0
                else g for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum((g * g).sum() for g in grads))
        scale = global_clipnorm * min(1 / norm, 1 / global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


class ReferenceMLP:
    """A whole training loop in NumPy, one Python iteration per mini-batch.

    Parameters
    ----------
    weights : list of (n_in, n_out) arrays
    biases : list of (n_out,) arrays or None
    activations : list of str
    loss : str
    optimizer : {"sgd", "adam", "rmsprop"}
    loss_options : dict, optional
        from_logits, label_smoothing, delta (see ``sample_losses``).
    dropouts : list of dict, optional
        Each {"block", "rate", "key", "noise_shape"}: dropout on layer ``block``'s
        input (0: the network's inputs), masked by ``dropout_mask`` at the step
        count before each update; several on one block apply in order.
    **hyper
        learning_rate and the optimizer's own parameters (Keras names).
    """

    def __init__(self, weights, biases, activations, loss, optimizer="sgd", loss_options=None,
                 dropouts=None, **hyper):
        self.weights = [np.array(w) for w in weights]
        self.biases = [None if b is None else np.array(b) for b in biases]
        self.activations, self.loss, self.optimizer = list(activations), loss, optimizer
        self.loss_options = dict(loss_options or {})
        self.dropouts = list(dropouts or [])
        self.hyper = dict(hyper)
        self.lr = self.hyper.pop("learning_rate", 0.01 if optimizer == "sgd" else 0.001)
        self.clip = {k: self.hyper.pop(k) for k in ("clipnorm", "clipvalue", "global_clipnorm")
                     if k in self.hyper}
        self.t = 0
        self.slots = [[np.zeros_like(p) for p in self.parameters()] for _ in range(3)]

    def parameters(self):
        return self.weights + [b for b in self.biases if b is not None]

    def predict(self, x):
        return forward(self.weights, self.biases, self.activations, x)[-1]

    def train_step(self, x, y, sample_weight=None):
        """One update on a mini-batch; returns sum_i w_i L_i.

        y: targets (n, units), or integer labels (n,) for the sparse loss.
        """
        if self.dropouts:
            outputs, kept = self._dropout_forward(x)
        else:
            outputs = forward(self.weights, self.biases, self.activations, x)
        if self.loss == "sparse_categorical_crossentropy" and np.ndim(y) == 1:
            y = np.eye(outputs[-1].shape[1], dtype=outputs[-1].dtype)[y]
        w = np.ones(len(x), dtype=outputs[-1].dtype) if sample_weight is None else sample_weight
        total = float((w * sample_losses(outputs[-1], y, self.loss, **self.loss_options)).sum())
        delta = output_delta(outputs[-1], y, self.loss, self.activations[-1], sample_weight,
                             **self.loss_options)
        if self.dropouts:
            grads_w, grads_b = self._dropout_backward(outputs, kept, delta)
        else:
            grads_w, grads_b = backward(self.weights, outputs, delta, self.activations)
        grads = clip_gradients(grads_w + [g for g, b in zip(grads_b, self.biases)
                                          if b is not None], **self.clip)
        self.t += 1
        if self.optimizer == "sgd":
            sgd_step(self.parameters(), grads, self.slots[0], self.lr, **self.hyper)
        elif self.optimizer == "adam":
            adam_step(self.parameters(), grads, self.slots[0], self.slots[1], self.t, self.lr,
                      v_maxes=self.slots[2], **self.hyper)
        else:
            rmsprop_step(self.parameters(), grads, self.slots[0], self.slots[1], self.lr,
                         means=self.slots[2], **self.hyper)
        return total

    def _masks(self, block, rows, units):
        """[(mask, rate)] of the dropouts on ``block`` at this step, in order."""
        return [(dropout_mask(d["key"], self.t, rows, units, d["rate"], d.get("noise_shape")),
                 d["rate"]) for d in self.dropouts if d["block"] == block]

    def _dropout_forward(self, x):
        """(outputs with dropout applied, undropped outputs) of every block."""
        dropped, kept = [], []
        a = x
        for block in range(len(self.weights)):
            kept.append(a)
            for mask, rate in self._masks(block, *a.shape):
                a = dropout(a, mask, rate)
            dropped.append(a)
            z = a @ self.weights[block]
            if self.biases[block] is not None:
                z = z + self.biases[block]
            a = activate(z, self.activations[block])
        return dropped + [a], kept + [a]

    def _dropout_backward(self, outputs, kept, delta):
        """``backward`` through the dropouts: their mask and scale on the deltas,
        the activation derivative at the undropped outputs."""
        grads_w, grads_b = [None] * len(self.weights), [None] * len(self.weights)
        for layer in range(len(self.weights) - 1, -1, -1):
            grads_w[layer] = outputs[layer].T @ delta
            grads_b[layer] = delta.sum(axis=0)
            if layer > 0:
                delta = delta @ self.weights[layer].T
                for mask, rate in reversed(self._masks(layer, *delta.shape)):
                    delta = dropout(delta, mask, rate)
                delta = activation_backward(delta, kept[layer], self.activations[layer - 1])
        return grads_w, grads_b

    def train_epoch(self, x, y, order, batch_size, sample_weight=None):
        """Mini-batches in ``order`` (last one partial); returns the mean sample loss."""
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            total += self.train_step(x[rows], y[rows],
                                     None if sample_weight is None else sample_weight[rows])
        return total / len(order)


# Dropout: the mask as a function of counters (see fastnn.kernels.dropout's docstring),
# restated here in vectorized uint64 NumPy.
_GOLDEN_64, _ROW_64 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03)
_GOLDEN_32, _LOW_32 = np.uint64(0x9E3779B9), np.uint64(0xFFFFFFFF)


def _splitmix64(z):
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _lowbias32(x):
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & _LOW_32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & _LOW_32
    return x ^ (x >> np.uint64(16))


def dropout_mask(key, step, rows, units, rate, noise_shape=None):
    """Boolean (rows, units) keep-mask of one dropout at a training step.

    Row i of a mini-batch and unit j are kept when 32 hashed bits of (key, step, i, j)
    are at least ceil(rate * 2^32): probability 1 - rate. noise_shape (1, units)
    shares row 0's mask over the rows, (rows, 1) unit 0's over the units.
    """
    share_rows = noise_shape is not None and noise_shape[0] == 1
    share_units = noise_shape is not None and noise_shape[1] == 1
    with np.errstate(over="ignore"):
        s = _splitmix64(np.uint64(key) + np.uint64(step) * _GOLDEN_64)
        row = np.zeros(rows, np.uint64) if share_rows else np.arange(rows, dtype=np.uint64)
        r = _splitmix64(s + (row + np.uint64(1)) * _ROW_64) >> np.uint64(32)
        unit = np.zeros(units, np.uint64) if share_units else np.arange(units, dtype=np.uint64)
        bits = _lowbias32((r[:, None] + unit[None, :] * _GOLDEN_32) & _LOW_32)
    return bits.astype(np.int64) >= int(np.ceil(rate * 2.0 ** 32))


def dropout(a, mask, rate):
    """Inverted dropout: a * (1 / (1 - rate)) where kept, 0 elsewhere."""
    return np.where(mask, a * a.dtype.type(1 / (1 - rate)), a.dtype.type(0))
