"""JAX as a peer: each epoch's full batches in ONE jitted call (``jax.lax.scan`` over
the batches' row indices), the partial batch in a second jitted step; the optimizers
written out with ``jax.tree_util`` (no optax). :class:`JaxVmap` is the many-models
runner of ``fastnn bench --models``: one step ``vmap``-ed over the models.

jax is imported inside functions only: importing this module loads nothing of it.
"""
from functools import cache
from types import SimpleNamespace

import numpy as np

from .base import LEAKY_SLOPE, Peer, layer_pairs, rows


def import_jax(dtype="float32"):
    """Import jax; for float64, switch on its 64-bit mode first.

    JAX computes in float32 unless ``jax_enable_x64`` is set. The flag is process-wide:
    it is switched on by the first float64 peer and left on. float32 peers are not
    affected, since every array they create carries float32 explicitly.

    Parameters
    ----------
    dtype : str or numpy.dtype, default="float32"

    Returns
    -------
    module
    """
    import jax
    if np.dtype(dtype) == np.float64 and not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)
    return jax


def describe():
    """One line naming JAX's version and backend and how the peer trains.

    Returns
    -------
    str
    """
    jax = import_jax()
    return (f"JAX {jax.__version__} on {jax.default_backend()}, each epoch one jitted "
            "lax.scan over the mini-batches")


def _activation(jax, name):
    functions = {"linear": lambda z: z, "sigmoid": jax.nn.sigmoid, "tanh": jax.numpy.tanh,
                 "relu": jax.nn.relu, "softmax": jax.nn.softmax,
                 "leaky_relu": lambda z: jax.nn.leaky_relu(z, LEAKY_SLOPE)}
    return functions[name]


def _sgd(jax, s):
    """(init, update) of SGD: ``v = momentum * v - lr * g; w = w + v``."""
    tree_map, zeros_like = jax.tree_util.tree_map, jax.numpy.zeros_like
    learning_rate, momentum = s["learning_rate"], s["momentum"]

    def init(params):
        return {"velocity": tree_map(zeros_like, params)}

    def update(params, state, grads):
        velocity = tree_map(lambda v, g: momentum * v - learning_rate * g,
                            state["velocity"], grads)
        return tree_map(jax.numpy.add, params, velocity), {"velocity": velocity}

    return init, update


def _adam(jax, s):
    """(init, update) of Adam as ``fastnn.optimizers.Adam``'s notes state it."""
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map
    learning_rate, beta_1, beta_2, epsilon = (s["learning_rate"], s["beta_1"], s["beta_2"],
                                              s["epsilon"])

    def init(params):
        zeros = tree_map(jnp.zeros_like, params)
        return {"t": jnp.zeros((), params[0][0].dtype), "m": zeros, "v": zeros}

    def update(params, state, grads):
        t = state["t"] + 1
        alpha = learning_rate * jnp.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        m = tree_map(lambda m, g: beta_1 * m + (1 - beta_1) * g, state["m"], grads)
        v = tree_map(lambda v, g: beta_2 * v + (1 - beta_2) * g * g, state["v"], grads)
        params = tree_map(lambda w, m, v: w - alpha * m / (jnp.sqrt(v) + epsilon),
                          params, m, v)
        return params, {"t": t, "m": m, "v": v}

    return init, update


def _rmsprop(jax, s):
    """(init, update) of uncentered RMSprop (``fastnn.optimizers.RMSprop``)."""
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map
    learning_rate, rho, momentum, epsilon = (s["learning_rate"], s["rho"], s["momentum"],
                                             s["epsilon"])

    def init(params):
        zeros = tree_map(jnp.zeros_like, params)
        return {"s": zeros, "velocity": zeros}

    def update(params, state, grads):
        s = tree_map(lambda s, g: rho * s + (1 - rho) * g * g, state["s"], grads)
        steps = tree_map(lambda g, s: learning_rate * g / jnp.sqrt(s + epsilon), grads, s)
        velocity = state["velocity"]
        if momentum:            # a Python float: decided once, at tracing
            velocity = steps = tree_map(lambda v, d: momentum * v + d, velocity, steps)
        return tree_map(jnp.subtract, params, steps), {"s": s, "velocity": velocity}

    return init, update


OPTIMIZERS = {"sgd": _sgd, "adam": _adam, "rmsprop": _rmsprop}


@cache
def _functions(activation, optimizer, settings):
    """init, and jitted epoch, step and predict, for one configuration.

    ``settings`` is the optimizer settings' items as a tuple (hashable). ``params`` is
    ``[(W0, b0), (W1, b1), ...]``; ``x`` and ``y`` are the whole data set on the device
    and batches are gathered from it by row indices, so an epoch moves only its
    permutation to the device.
    """
    jax = import_jax()
    jnp = jax.numpy
    hidden = _activation(jax, activation)
    init, update = OPTIMIZERS[optimizer](jax, dict(settings))

    def logits(params, x):
        for w, b in params[:-1]:
            x = hidden(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss(params, x, y):
        # Softmax and cross-entropy together, from the logits: no log of a rounded 0.
        log_p = jax.nn.log_softmax(logits(params, x))
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    gradient = jax.grad(loss)

    def step(params, state, x, y, rows):
        return update(params, state, gradient(params, x[rows], y[rows]))

    def epoch(params, state, x, y, batches):
        def body(carry, rows):
            return step(*carry, x, y, rows), None
        return jax.lax.scan(body, (params, state), batches)[0]

    def predict(params, x):
        return jax.nn.softmax(logits(params, x))

    return SimpleNamespace(init=init, epoch=jax.jit(epoch), step=jax.jit(step),
                           predict=jax.jit(predict))


# Compiled epochs and steps, shared by every JaxPeer: keyed by configuration and the
# shapes and dtypes of the arguments (data set size, batch count, batch size).
_EXECUTABLES = {}


def _executable(config, kind, *args):
    """The compiled ``kind`` ("epoch" or "step") function for ``args``' shapes."""
    jax = import_jax()
    leaves = jax.tree_util.tree_leaves(args)
    key = (config, kind, jax.config.read("jax_enable_x64"),
           tuple((leaf.shape, np.dtype(leaf.dtype)) for leaf in leaves))
    if key not in _EXECUTABLES:
        function = getattr(_functions(*config), kind)
        _EXECUTABLES[key] = function.lower(*args).compile()
    return _EXECUTABLES[key]


def _split(order, batch_size):
    """(full batches as (count, batch_size) int32 rows or None, the rest or None)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    count = len(order) // batch_size
    full = order[:count * batch_size].astype(np.int32).reshape(count, batch_size)
    rest = order[count * batch_size:].astype(np.int32)
    return (full if count else None), (rest if len(rest) else None)


class JaxPeer(Peer):
    """The network in JAX: each epoch's full batches in one jitted ``lax.scan``.

    Parameters
    ----------
    weights, x, y, optimizer, learning_rate, momentum, activation, seed
        As :class:`fastnn_peers.base.Peer` takes them; ``x`` and ``y`` are copied to
        the device once.

    Attributes
    ----------
    iterations : int
        Optimizer steps (mini-batches) trained since the last :meth:`set_weights`.

    Notes
    -----
    The compiled epoch is cached by shapes (samples, batch count, batch size) and
    shared between peers of the same configuration: call :meth:`prepare` before
    timing :meth:`epoch` at a new shape.
    """

    engine = "JAX"

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        super().__init__(weights, x, y, optimizer, learning_rate, momentum, activation, seed)
        self._jax = import_jax(self.dtype)
        self._config = (activation, optimizer, tuple(self.settings.items()))
        self._functions = _functions(*self._config)
        self.x = self._jax.device_put(self.x)
        self.y = self._jax.device_put(np.asarray(self.y, np.int32))
        self.set_weights(weights)

    def set_weights(self, weights):
        jnp = self._jax.numpy
        self._params = [(jnp.asarray(w, self.dtype), jnp.asarray(b, self.dtype))
                        for w, b in layer_pairs(weights)]
        self._state = self._functions.init(self._params)
        self.iterations = 0

    def get_weights(self):
        return [np.array(array) for pair in self._params for array in pair]

    def prepare(self, batch_size, n=None):
        full, rest = _split(np.arange(rows(n, self.x.shape[0])), batch_size)
        for kind, batch_rows in (("epoch", full), ("step", rest)):
            if batch_rows is not None:
                self._compiled(kind, batch_rows)

    def epoch(self, batch_size, n=None):
        full, rest = _split(self._permutation(n), batch_size)
        carry = (self._params, self._state)
        if full is not None:
            carry = self._compiled("epoch", full)(*carry, self.x, self.y, full)
        if rest is not None:
            carry = self._compiled("step", rest)(*carry, self.x, self.y, rest)
        self._params, self._state = self._jax.block_until_ready(carry)
        self.iterations += (0 if full is None else len(full)) + (rest is not None)

    def predict(self, x):
        return np.asarray(self._functions.predict(self._params, np.asarray(x, self.dtype)))

    def _compiled(self, kind, batch_rows):
        return _executable(self._config, kind, self._params, self._state, self.x, self.y,
                           batch_rows)


class JaxVmap:
    """K fastnn models of one architecture trained in JAX at once: one step ``vmap``-ed
    over their stacked parameters and learning rates, an epoch's batches in one jitted
    ``lax.scan`` (what a JAX user writes for a sweep).

    Parameters
    ----------
    models : list of fastnn.Sequential
        Compiled and built, all with the same layers, loss and optimizer type (SGD with
        momentum, or Adam); their initial weights, learning rates, momentum, betas and
        epsilon are read from them.
    x, y : numpy.ndarray
        The data every model trains on; epochs cover whole batches only.

    Notes
    -----
    ``params`` holds the stacked weights ``[W0, b0, ...]``, each with the model axis
    first; ``rng`` draws each epoch's permutation.
    """

    def __init__(self, models, x, y):
        jax = import_jax(models[0].dtype)
        self.jax, self.jnp = jax, jax.numpy
        first = models[0]
        weights = [m.get_weights() for m in models]
        self.params = [self.jnp.asarray(np.stack([w[i] for w in weights]))
                       for i in range(len(weights[0]))]
        optimizer = first.optimizer
        adam = type(optimizer).__name__ == "Adam"
        self.state = self._initial_state(adam)
        self.rates = self.jnp.asarray(np.array([m.optimizer.learning_rate for m in models],
                                               dtype=first.dtype))
        self.x, self.y = self.jnp.asarray(x), self.jnp.asarray(y)
        self.rng = np.random.default_rng(0)
        activations = [layer.activation for layer in first.layers]
        self._epoch = jax.jit(self._epoch_function(activations, first.loss, optimizer, adam))

    def _initial_state(self, adam):
        zeros = [self.jnp.zeros_like(p) for p in self.params]
        if adam:    # the step count in the parameters' dtype, in 64-bit mode too
            return (zeros, [self.jnp.zeros_like(p) for p in self.params],
                    self.jnp.zeros(self.params[0].shape[0], self.params[0].dtype))
        return zeros

    def _epoch_function(self, activations, loss_name, optimizer, adam):
        jax, jnp = self.jax, self.jnp
        functions = {"relu": jax.nn.relu, "linear": lambda z: z, "tanh": jnp.tanh,
                     "sigmoid": jax.nn.sigmoid}

        def outputs(params, xb):
            a = xb
            for layer, activation in enumerate(activations):
                z = a @ params[2 * layer] + params[2 * layer + 1]
                a = z if activation == "softmax" else functions[activation](z)
            return a  # logits for a softmax output

        def loss(params, xb, yb):
            out = outputs(params, xb)
            if loss_name == "mse":
                return jnp.mean((out - yb) ** 2)
            logp = jax.nn.log_softmax(out)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        if adam:
            beta_1, beta_2, epsilon = optimizer.beta_1, optimizer.beta_2, optimizer.epsilon
        else:
            momentum = optimizer.momentum

        def step(params, state, rate, xb, yb):
            grads = jax.grad(loss)(params, xb, yb)
            if not adam:
                velocity = [momentum * v - rate * g for v, g in zip(state, grads)]
                return [p + v for p, v in zip(params, velocity)], velocity
            m, v, t = state
            t = t + 1
            m = [beta_1 * mi + (1 - beta_1) * g for mi, g in zip(m, grads)]
            v = [beta_2 * vi + (1 - beta_2) * g * g for vi, g in zip(v, grads)]
            size = rate * jnp.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
            params = [p - size * mi / (jnp.sqrt(vi) + epsilon)
                      for p, mi, vi in zip(params, m, v)]
            return params, (m, v, t)

        models_step = jax.vmap(step, in_axes=(0, 0, 0, None, None))

        def epoch(params, state, rates, x, y, batches):
            def body(carry, batch_rows):
                params, state = carry
                return models_step(params, state, rates, x[batch_rows], y[batch_rows]), None

            (params, state), _ = jax.lax.scan(body, (params, state), batches)
            return params, state

        return epoch

    def epoch(self, batch_size):
        """One epoch of every model on whole batches of a fresh permutation.

        Parameters
        ----------
        batch_size : int
        """
        n = self.x.shape[0] // batch_size * batch_size
        batches = self.rng.permutation(self.x.shape[0])[:n].reshape(-1, batch_size)
        self.params, self.state = self._epoch(self.params, self.state, self.rates, self.x,
                                              self.y, self.jnp.asarray(batches))
        self.jax.block_until_ready(self.params)
