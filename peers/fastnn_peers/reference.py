"""fastnn's own NumPy reference as a peer: ``fastnn.reference.ReferenceMLP``, one
Python iteration per mini-batch, every array operation a NumPy call."""
import numpy as np
from fastnn.reference import ReferenceMLP

from .base import LOSS, Peer, layer_pairs


class ReferencePeer(Peer):
    """The network in plain NumPy (``fastnn.reference.ReferenceMLP.train_epoch``).

    Parameters
    ----------
    weights, x, y, optimizer, learning_rate, momentum, activation, seed
        As :class:`fastnn_peers.base.Peer` takes them.

    Notes
    -----
    Unit sample weights of the model's dtype are passed to every step: without them
    the reference builds float64 ones and runs a float32 model's backward pass in
    float64.
    """

    engine = "fastnn.reference"

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        super().__init__(weights, x, y, optimizer, learning_rate, momentum, activation, seed)
        classes = layer_pairs(weights)[-1][0].shape[1]
        self._targets = np.eye(classes, dtype=self.dtype)[self.y]
        self._sample_weight = np.ones(len(self.x), dtype=self.dtype)
        self.set_weights(weights)

    def set_weights(self, weights):
        pairs = layer_pairs(weights)
        activations = [self.activation] * (len(pairs) - 1) + ["softmax"]
        self.model = ReferenceMLP([np.asarray(w, self.dtype) for w, _ in pairs],
                                  [np.asarray(b, self.dtype) for _, b in pairs],
                                  activations, LOSS, self.optimizer, **self.settings)

    def get_weights(self):
        return [np.array(p) for pair in zip(self.model.weights, self.model.biases)
                for p in pair]

    def epoch(self, batch_size, n=None):
        self.model.train_epoch(self.x, self._targets, self._permutation(n), batch_size,
                               self._sample_weight)

    def predict(self, x):
        return self.model.predict(np.asarray(x, self.dtype))

