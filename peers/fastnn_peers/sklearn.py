"""scikit-learn as a peer: ``sklearn.neural_network.MLPClassifier``, one
``partial_fit`` per epoch (sgd and adam; relu, tanh, sigmoid, linear)."""
import numpy as np

from .base import Peer, layer_pairs, rows

# fastnn's activation names -> MLPClassifier's.
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}


class SklearnPeer(Peer):
    """The network as an ``MLPClassifier`` (alpha=0, no Nesterov momentum).

    Parameters
    ----------
    weights, x, y, optimizer, learning_rate, momentum, activation, seed
        As :class:`fastnn_peers.base.Peer` takes them; ``seed`` is the classifier's
        ``random_state``, which draws its shuffles.

    Notes
    -----
    ``partial_fit`` lays the classifier out on its first call; :meth:`set_weights`
    makes that call on two rows, copies the weights in place (the solver keeps
    references to those arrays) and drops the solver, so the next epoch starts with
    a fresh optimizer state.
    """

    engine = "MLPClassifier"
    optimizers = ("sgd", "adam")
    activations = tuple(ACTIVATIONS)

    @classmethod
    def unsupported(cls, optimizer, activation):
        if optimizer not in cls.optimizers:
            return f"MLPClassifier has no {optimizer} solver"
        return super().unsupported(optimizer, activation)

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0):
        super().__init__(weights, x, y, optimizer, learning_rate, momentum, activation, seed)
        from sklearn.neural_network import MLPClassifier
        self._classifier = MLPClassifier
        self.set_weights(weights)

    def set_weights(self, weights):
        pairs, s = layer_pairs(weights), self.settings
        if self.optimizer == "sgd":
            solver = {"momentum": s["momentum"], "nesterovs_momentum": False}
        else:
            solver = {"beta_1": s["beta_1"], "beta_2": s["beta_2"], "epsilon": s["epsilon"]}
        self.model = self._classifier(
            hidden_layer_sizes=tuple(w.shape[1] for w, _ in pairs[:-1]),
            activation=ACTIVATIONS[self.activation], solver=self.optimizer, alpha=0.0,
            learning_rate_init=s["learning_rate"], shuffle=True, random_state=self.seed,
            **solver)
        classes = np.arange(pairs[-1][0].shape[1])
        self.model.partial_fit(self.x[:2], self.y[:2], classes=classes)    # lays it out
        for i, (w, b) in enumerate(pairs):
            self.model.coefs_[i][...] = w
            self.model.intercepts_[i][...] = b
        vars(self.model).pop("_optimizer", None)   # the first step's momentum/moments

    def get_weights(self):
        return [np.array(p) for pair in zip(self.model.coefs_, self.model.intercepts_)
                for p in pair]

    def epoch(self, batch_size, n=None):
        n = rows(n, len(self.x))
        self.model.batch_size = batch_size
        self.model.partial_fit(self.x[:n], self.y[:n])

    def predict(self, x):
        return self.model.predict_proba(np.asarray(x, self.dtype))
