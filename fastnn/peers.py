"""The benchmark network trained by other engines: JAX and Keras 3 peers.

``fastnn bench`` and the asv suite (``asv_benchmarks/benchmarks/baselines.py``) time
these beside fastnn. Each peer trains what every other peer trains: dense layers from
given initial weights ``[W0, b0, W1, b1, ...]`` (W as (inputs, units), what
``Sequential.get_weights`` returns), one activation on the hidden layers, a softmax
output, sparse categorical cross-entropy (mean over the batch), and Keras 3's SGD
(``v = momentum * v - lr * g; w += v``), Adam (epsilon 1e-7, outside the square root)
or RMSprop, on mini-batches of a fresh permutation each epoch, the last partial batch
included.

- :class:`JaxPeer`: every full batch of an epoch in ONE jitted call (``jax.lax.scan``
  over the batches' row indices), the partial batch in a second jitted step; the
  optimizers are written out with ``jax.tree_util`` (no optax).
- :class:`KerasPeer`: ``keras.Sequential`` of ``Dense`` layers, one
  ``model.fit(..., epochs=1, shuffle=True)`` per epoch, as a Keras user writes it.

jax and keras are imported inside functions only: ``import fastnn`` loads neither.
Both peers have ``prepare(batch_size, n)``, which compiles for an epoch's shapes, so
a timed ``epoch`` measures training, not tracing and compiling.
"""
import importlib.util
import os
import sys
from functools import cache
from types import SimpleNamespace

import numpy as np

FRAMEWORKS = ("jax", "keras")
LOSS = "sparse_categorical_crossentropy"
# Keras 3's defaults, which fastnn's optimizers follow.
LEARNING_RATES = {"sgd": 0.01, "adam": 0.001, "rmsprop": 0.001}
BETA_1, BETA_2, EPSILON, RHO = 0.9, 0.999, 1e-7, 0.9
HIDDEN_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
LEAKY_SLOPE = 0.2               # keras.activations.leaky_relu's default, as fastnn's


# ---------------------------------------------------------------------- settings
def optimizer_config(optimizer, learning_rate=None, momentum=None):
    """Validated optimizer settings with Keras 3's defaults filled in.

    Parameters
    ----------
    optimizer : {"sgd", "adam", "rmsprop"}
    learning_rate : float, optional
        Default: 0.01 for sgd, 0.001 for adam and rmsprop.
    momentum : float, optional
        sgd and rmsprop only; default 0.

    Returns
    -------
    tuple
        ``(optimizer, learning_rate, momentum)``, the numbers as Python floats.

    Raises
    ------
    ValueError
        For an unknown optimizer, or a momentum given to adam.
    """
    if optimizer not in LEARNING_RATES:
        raise ValueError(f"optimizer must be one of {sorted(LEARNING_RATES)}, "
                         f"got {optimizer!r}")
    if optimizer == "adam" and momentum:
        raise ValueError("momentum applies to sgd and rmsprop, not adam")
    rate = LEARNING_RATES[optimizer] if learning_rate is None else float(learning_rate)
    return optimizer, rate, float(momentum or 0.0)


def _check_activation(activation):
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(HIDDEN_ACTIVATIONS)}, "
                         f"got {activation!r}")


def _layer_pairs(weights):
    if len(weights) < 2 or len(weights) % 2:
        raise ValueError("weights must be [W0, b0, W1, b1, ...], "
                         f"got a list of {len(weights)} arrays")
    return list(zip(weights[0::2], weights[1::2]))


def _rows(n, available):
    if n is None:
        return available
    if not 1 <= n <= available:
        raise ValueError(f"n must be in [1, {available}], got {n}")
    return n


# ----------------------------------------------------------------------- imports
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


def import_keras(dtype="float32"):
    """Import keras, on the JAX backend when ``KERAS_BACKEND`` is unset and jax imports.

    Keras reads ``KERAS_BACKEND`` once, at its first import, so a backend the user
    chose (or an earlier import) wins; without jax, Keras's default (TensorFlow) is
    tried.

    Parameters
    ----------
    dtype : str or numpy.dtype, default="float32"
        float64 on the JAX backend switches on JAX's 64-bit mode (see
        :func:`import_jax`).

    Returns
    -------
    module
    """
    if "keras" not in sys.modules and importlib.util.find_spec("jax") is not None:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    if keras.backend.backend() == "jax":
        import_jax(dtype)
    return keras


def describe(framework):
    """One line naming a peer's version and how it trains, for reports.

    Parameters
    ----------
    framework : {"jax", "keras"}

    Returns
    -------
    str
    """
    if framework == "jax":
        jax = import_jax()
        return (f"JAX {jax.__version__} on {jax.default_backend()}, each epoch one jitted "
                "lax.scan over the mini-batches")
    keras = import_keras()
    return (f"Keras {keras.__version__} on the {keras.backend.backend()} backend, "
            "one model.fit per epoch")


# -------------------------------------------------------------------------- JAX
def _jax_activation(jax, name):
    functions = {"linear": lambda z: z, "sigmoid": jax.nn.sigmoid, "tanh": jax.numpy.tanh,
                 "relu": jax.nn.relu, "softmax": jax.nn.softmax,
                 "leaky_relu": lambda z: jax.nn.leaky_relu(z, LEAKY_SLOPE)}
    return functions[name]


def _jax_sgd(jax, learning_rate, momentum):
    """(init, update) of Keras 3's SGD: ``v = momentum * v - lr * g; w = w + v``."""
    tree_map, zeros_like = jax.tree_util.tree_map, jax.numpy.zeros_like

    def init(params):
        return {"velocity": tree_map(zeros_like, params)}

    def update(params, state, grads):
        velocity = tree_map(lambda v, g: momentum * v - learning_rate * g,
                            state["velocity"], grads)
        return tree_map(jax.numpy.add, params, velocity), {"velocity": velocity}

    return init, update


def _jax_adam(jax, learning_rate, momentum):
    """(init, update) of Keras 3's Adam (``fastnn.optimizers.Adam``'s notes)."""
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map

    def init(params):
        zeros = tree_map(jnp.zeros_like, params)
        return {"t": jnp.zeros((), params[0][0].dtype), "m": zeros, "v": zeros}

    def update(params, state, grads):
        t = state["t"] + 1
        alpha = learning_rate * jnp.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
        m = tree_map(lambda m, g: BETA_1 * m + (1 - BETA_1) * g, state["m"], grads)
        v = tree_map(lambda v, g: BETA_2 * v + (1 - BETA_2) * g * g, state["v"], grads)
        params = tree_map(lambda w, m, v: w - alpha * m / (jnp.sqrt(v) + EPSILON),
                          params, m, v)
        return params, {"t": t, "m": m, "v": v}

    return init, update


def _jax_rmsprop(jax, learning_rate, momentum):
    """(init, update) of Keras 3's uncentered RMSprop (``fastnn.optimizers.RMSprop``)."""
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map

    def init(params):
        zeros = tree_map(jnp.zeros_like, params)
        return {"s": zeros, "velocity": zeros}

    def update(params, state, grads):
        s = tree_map(lambda s, g: RHO * s + (1 - RHO) * g * g, state["s"], grads)
        steps = tree_map(lambda g, s: learning_rate * g / jnp.sqrt(s + EPSILON), grads, s)
        velocity = state["velocity"]
        if momentum:            # a Python float: decided once, at tracing
            velocity = steps = tree_map(lambda v, d: momentum * v + d, velocity, steps)
        return tree_map(jnp.subtract, params, steps), {"s": s, "velocity": velocity}

    return init, update


JAX_OPTIMIZERS = {"sgd": _jax_sgd, "adam": _jax_adam, "rmsprop": _jax_rmsprop}


@cache
def _jax_functions(activation, optimizer, learning_rate, momentum):
    """init, and jitted epoch, step and predict, for one configuration.

    ``params`` is ``[(W0, b0), (W1, b1), ...]``; ``x`` and ``y`` are the whole data
    set on the device and batches are gathered from it by row indices, so an epoch
    moves only its permutation to the device.
    """
    jax = import_jax()
    jnp = jax.numpy
    hidden = _jax_activation(jax, activation)
    init, update = JAX_OPTIMIZERS[optimizer](jax, learning_rate, momentum)

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
        function = getattr(_jax_functions(*config), kind)
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


class JaxPeer:
    """The network in JAX: each epoch's full batches in one jitted ``lax.scan``.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``[W0, b0, W1, b1, ...]``, W as (inputs, units); their dtype (float32 or
        float64) is the peer's.
    x : numpy.ndarray
        Training inputs (n, inputs); copied to the device once.
    y : numpy.ndarray
        Integer class labels (n,).
    optimizer : {"sgd", "adam", "rmsprop"}, default="sgd"
    learning_rate : float, optional
        Default: Keras 3's (sgd 0.01, adam and rmsprop 0.001).
    momentum : float, optional
        sgd and rmsprop; default 0.
    activation : str, default="relu"
        The hidden layers' activation; the output is softmax.
    seed : int or None, default=0
        Seeds the NumPy generator that draws each epoch's permutation.

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

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        _check_activation(activation)
        self.dtype = np.dtype(weights[0].dtype)
        self._jax = import_jax(self.dtype)
        self._config = (activation,) + optimizer_config(optimizer, learning_rate, momentum)
        self._functions = _jax_functions(*self._config)
        self.x = self._jax.device_put(np.asarray(x, self.dtype))
        self.y = self._jax.device_put(np.asarray(y, np.int32))
        self._rng = np.random.default_rng(seed)
        self.set_weights(weights)

    def set_weights(self, weights):
        """Start again from ``weights``, with a fresh optimizer state.

        Parameters
        ----------
        weights : list of numpy.ndarray
            ``[W0, b0, W1, b1, ...]``.
        """
        jnp = self._jax.numpy
        self._params = [(jnp.asarray(w, self.dtype), jnp.asarray(b, self.dtype))
                        for w, b in _layer_pairs(weights)]
        self._state = self._functions.init(self._params)
        self.iterations = 0

    def get_weights(self):
        """The current weights as NumPy arrays, ``[W0, b0, W1, b1, ...]``.

        Returns
        -------
        list of numpy.ndarray
        """
        return [np.array(array) for pair in self._params for array in pair]

    def prepare(self, batch_size, n=None):
        """Compile the epoch at this batch size on ``n`` samples (no training).

        Parameters
        ----------
        batch_size : int
        n : int, optional
            Samples per epoch (the first ``n`` of ``x``); default all.
        """
        full, rest = _split(np.arange(_rows(n, self.x.shape[0])), batch_size)
        for kind, rows in (("epoch", full), ("step", rest)):
            if rows is not None:
                self._compiled(kind, rows)

    def epoch(self, batch_size, n=None):
        """Train one epoch on a fresh permutation of the first ``n`` samples.

        Returns when the device has finished (``block_until_ready``), so the call can
        be timed.

        Parameters
        ----------
        batch_size : int
        n : int, optional
            Default: all samples.
        """
        full, rest = _split(self._rng.permutation(_rows(n, self.x.shape[0])), batch_size)
        carry = (self._params, self._state)
        if full is not None:
            carry = self._compiled("epoch", full)(*carry, self.x, self.y, full)
        if rest is not None:
            carry = self._compiled("step", rest)(*carry, self.x, self.y, rest)
        self._params, self._state = self._jax.block_until_ready(carry)
        self.iterations += (0 if full is None else len(full)) + (rest is not None)

    def predict(self, x):
        """Class probabilities.

        Parameters
        ----------
        x : numpy.ndarray
            (n, inputs).

        Returns
        -------
        numpy.ndarray
            (n, classes), rows summing to 1.
        """
        return np.asarray(self._functions.predict(self._params, np.asarray(x, self.dtype)))

    def _compiled(self, kind, rows):
        return _executable(self._config, kind, self._params, self._state, self.x, self.y,
                           rows)


# ------------------------------------------------------------------------ Keras
def _keras_optimizer(keras, optimizer, learning_rate, momentum):
    if optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum)
    if optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=BETA_1, beta_2=BETA_2,
                                     epsilon=EPSILON)
    return keras.optimizers.RMSprop(learning_rate, rho=RHO, momentum=momentum,
                                    epsilon=EPSILON)


def _keras_model(keras, weights, activation, dtype):
    pairs = _layer_pairs(weights)
    layers = [keras.Input(shape=(pairs[0][0].shape[0],), dtype=dtype)]
    for i, (w, _) in enumerate(pairs):
        last = i == len(pairs) - 1
        layers.append(keras.layers.Dense(w.shape[1], dtype=dtype,
                                         activation="softmax" if last else activation))
    return keras.Sequential(layers)


class KerasPeer:
    """The network in Keras 3: ``Sequential`` of ``Dense``, one ``fit`` per epoch.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``[W0, b0, W1, b1, ...]``, W as (inputs, units): Keras's kernel layout.
    x : numpy.ndarray
        Training inputs (n, inputs).
    y : numpy.ndarray
        Integer class labels (n,).
    optimizer : {"sgd", "adam", "rmsprop"}, default="sgd"
    learning_rate : float, optional
    momentum : float, optional
    activation : str, default="relu"
    seed : int or None, default=0
        Unused: ``fit(shuffle=True)`` draws its permutation from NumPy's global
        generator, which a benchmark should not reseed. Accepted so that both peers
        take the same arguments.

    Attributes
    ----------
    backend : str
        Keras's backend (``"jax"`` when jax is importable, see :func:`import_keras`).
    model : keras.Sequential

    Notes
    -----
    Keras's loss clips probabilities to [1e-7, 1 - 1e-7] before the log, where the
    other peers take the log-softmax of the logits: the same loss wherever no
    probability is that extreme.
    """

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        _check_activation(activation)
        self.dtype = np.dtype(weights[0].dtype)
        keras = self._keras = import_keras(self.dtype)
        self.backend = keras.backend.backend()
        self.model = _keras_model(keras, weights, activation, self.dtype.name)
        self.model.compile(optimizer=_keras_optimizer(
            keras, *optimizer_config(optimizer, learning_rate, momentum)), loss=LOSS)
        self.model.optimizer.build(self.model.trainable_variables)
        # Its iteration count and slots as built: set_weights restores them.
        self._fresh_optimizer = self._values(self.model.optimizer.variables)
        self.x, self.y = np.asarray(x, self.dtype), np.asarray(y)
        self._prepared = set()
        self.set_weights(weights)

    def set_weights(self, weights):
        """Start again from ``weights``, with a fresh optimizer state.

        Parameters
        ----------
        weights : list of numpy.ndarray
        """
        self.model.set_weights([np.asarray(w, self.dtype) for w in weights])
        self._set_optimizer_state(self._fresh_optimizer)

    @property
    def iterations(self):
        """Optimizer steps (mini-batches) trained since the last :meth:`set_weights`."""
        return int(self._values([self.model.optimizer.iterations])[0])

    def get_weights(self):
        """The current weights, ``[W0, b0, W1, b1, ...]``.

        Returns
        -------
        list of numpy.ndarray
        """
        return self._values(self.model.weights)

    def prepare(self, batch_size, n=None):
        """Compile the train step for this batch size and ``n``'s last partial batch.

        Trains one full and one partial batch, then puts the weights and the optimizer
        state back.

        Parameters
        ----------
        batch_size : int
        n : int, optional
            Default: all samples.
        """
        rest = _rows(n, len(self.x)) % batch_size
        if (batch_size, rest) in self._prepared:
            return
        weights = self.get_weights()
        optimizer_state = self._values(self.model.optimizer.variables)
        rows = min(len(self.x), batch_size + rest)
        self.model.fit(self.x[:rows], self.y[:rows], batch_size=batch_size, epochs=1,
                       shuffle=False, verbose=0)
        self.model.set_weights(weights)
        self._set_optimizer_state(optimizer_state)
        self._prepared.add((batch_size, rest))

    def epoch(self, batch_size, n=None):
        """One ``model.fit(..., epochs=1, shuffle=True)`` on the first ``n`` samples.

        Returns when the last update has been computed, so the call can be timed.

        Parameters
        ----------
        batch_size : int
        n : int, optional
            Default: all samples.
        """
        n = _rows(n, len(self.x))
        self.model.fit(self.x[:n], self.y[:n], batch_size=batch_size, epochs=1,
                       shuffle=True, verbose=0)
        if self.backend == "jax":   # dispatch is asynchronous: wait for the weights
            import_jax().block_until_ready([v.value for v in self.model.variables])

    def predict(self, x):
        """Class probabilities, the whole of ``x`` as one batch (``predict_on_batch``).

        Parameters
        ----------
        x : numpy.ndarray

        Returns
        -------
        numpy.ndarray
            (n, classes).
        """
        return np.asarray(self.model.predict_on_batch(np.asarray(x, self.dtype)))

    def _values(self, variables):
        # Not Variable.numpy() (nor get_weights, which calls it): under NumPy 2 it warns
        # (DeprecationWarning: __array__ without a copy keyword) on every call.
        return [np.array(self._keras.ops.convert_to_numpy(v.value)) for v in variables]

    def _set_optimizer_state(self, values):
        for variable, value in zip(self.model.optimizer.variables, values):
            variable.assign(value)


PEER_CLASSES = {"jax": JaxPeer, "keras": KerasPeer}


def make_peer(framework, weights, x, y, **settings):
    """A :class:`JaxPeer` or :class:`KerasPeer`.

    Parameters
    ----------
    framework : {"jax", "keras"}
    weights, x, y
        As the classes take them.
    **settings
        optimizer, learning_rate, momentum, activation, seed.

    Returns
    -------
    JaxPeer or KerasPeer
    """
    return PEER_CLASSES[framework](weights, x, y, **settings)
