"""Keras 3 as a peer: ``keras.Sequential`` of ``Dense`` layers, one
``model.fit(..., epochs=1, shuffle=True)`` per epoch, as a Keras user writes it.

keras is imported inside functions only, on the JAX backend when ``KERAS_BACKEND`` is
unset and jax is installed (:func:`import_keras`).
"""
import importlib.util
import os
import sys

import numpy as np

from .base import LOSS, Peer, layer_pairs, rows
from .jax import import_jax


def import_keras(dtype="float32"):
    """Import keras, on the JAX backend when ``KERAS_BACKEND`` is unset and jax imports.

    Keras reads ``KERAS_BACKEND`` once, at its first import, so a backend the user
    chose (or an earlier import) wins; without jax, Keras's default (TensorFlow) is
    tried.

    Parameters
    ----------
    dtype : str or numpy.dtype, default="float32"
        float64 on the JAX backend switches on JAX's 64-bit mode
        (:func:`fastnn_peers.jax.import_jax`).

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


def describe():
    """One line naming Keras's version and backend and how the peer trains.

    Returns
    -------
    str
    """
    keras = import_keras()
    return (f"Keras {keras.__version__} on the {keras.backend.backend()} backend, "
            "one model.fit per epoch")


def _optimizer(keras, optimizer, s):
    if optimizer == "sgd":
        return keras.optimizers.SGD(s["learning_rate"], momentum=s["momentum"])
    if optimizer == "adam":
        return keras.optimizers.Adam(s["learning_rate"], beta_1=s["beta_1"],
                                     beta_2=s["beta_2"], epsilon=s["epsilon"])
    return keras.optimizers.RMSprop(s["learning_rate"], rho=s["rho"], momentum=s["momentum"],
                                    epsilon=s["epsilon"])


def _model(keras, weights, activation, dtype):
    pairs = layer_pairs(weights)
    layers = [keras.Input(shape=(pairs[0][0].shape[0],), dtype=dtype)]
    for i, (w, _) in enumerate(pairs):
        last = i == len(pairs) - 1
        layers.append(keras.layers.Dense(w.shape[1], dtype=dtype,
                                         activation="softmax" if last else activation))
    return keras.Sequential(layers)


class KerasPeer(Peer):
    """The network in Keras 3: ``Sequential`` of ``Dense``, one ``fit`` per epoch.

    Parameters
    ----------
    weights, x, y, optimizer, learning_rate, momentum, activation
        As :class:`fastnn_peers.base.Peer` takes them.
    seed : int or None, default=0
        Unused: ``fit(shuffle=True)`` draws its permutation from NumPy's global
        generator, which a benchmark should not reseed. Accepted so that every peer
        takes the same arguments.

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

    engine = "Keras"

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        super().__init__(weights, x, y, optimizer, learning_rate, momentum, activation, seed)
        keras = self._keras = import_keras(self.dtype)
        self.backend = keras.backend.backend()
        self.model = _model(keras, weights, activation, self.dtype.name)
        self.model.compile(optimizer=_optimizer(keras, optimizer, self.settings), loss=LOSS)
        self.model.optimizer.build(self.model.trainable_variables)
        # Its iteration count and slots as built: set_weights restores them.
        self._fresh_optimizer = self._values(self.model.optimizer.variables)
        self._prepared = set()
        self.set_weights(weights)

    def set_weights(self, weights):
        self.model.set_weights([np.asarray(w, self.dtype) for w in weights])
        self._set_optimizer_state(self._fresh_optimizer)

    @property
    def iterations(self):
        """Optimizer steps (mini-batches) trained since the last :meth:`set_weights`."""
        return int(self._values([self.model.optimizer.iterations])[0])

    def get_weights(self):
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
        rest = rows(n, len(self.x)) % batch_size
        if (batch_size, rest) in self._prepared:
            return
        weights = self.get_weights()
        optimizer_state = self._values(self.model.optimizer.variables)
        count = min(len(self.x), batch_size + rest)
        self.model.fit(self.x[:count], self.y[:count], batch_size=batch_size, epochs=1,
                       shuffle=False, verbose=0)
        self.model.set_weights(weights)
        self._set_optimizer_state(optimizer_state)
        self._prepared.add((batch_size, rest))

    def epoch(self, batch_size, n=None):
        n = rows(n, len(self.x))
        self.model.fit(self.x[:n], self.y[:n], batch_size=batch_size, epochs=1,
                       shuffle=True, verbose=0)
        if self.backend == "jax":   # dispatch is asynchronous: wait for the weights
            import_jax().block_until_ready([v.value for v in self.model.variables])

    def predict(self, x):
        """Class probabilities, the whole of ``x`` as one batch (``predict_on_batch``)."""
        return np.asarray(self.model.predict_on_batch(np.asarray(x, self.dtype)))

    def _values(self, variables):
        # Not Variable.numpy() (nor get_weights, which calls it): under NumPy 2 it warns
        # (DeprecationWarning: __array__ without a copy keyword) on every call.
        return [np.array(self._keras.ops.convert_to_numpy(v.value)) for v in variables]

    def _set_optimizer_state(self, values):
        for variable, value in zip(self.model.optimizer.variables, values):
            variable.assign(value)
