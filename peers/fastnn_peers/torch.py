"""PyTorch as a peer: ``torch.nn.Sequential`` trained by a plain index loop (no
DataLoader), softmax folded into ``CrossEntropyLoss`` as PyTorch users write it."""
import numpy as np

from .base import LEAKY_SLOPE, Peer, layer_pairs


class TorchPeer(Peer):
    """The network in PyTorch, eager mode on the CPU.

    Parameters
    ----------
    weights, x, y, optimizer, learning_rate, momentum, activation, seed
        As :class:`fastnn_peers.base.Peer` takes them.
    threads : int, optional
        ``torch.set_num_threads(threads)`` (process-wide); default: PyTorch's.

    Notes
    -----
    ``torch.optim.Adam`` and ``RMSprop`` add epsilon outside the square root of the
    bias-corrected second moment, where Keras's Adam adds it to the uncorrected one and
    Keras's RMSprop inside the root: the same steps wherever epsilon is negligible.
    """

    engine = "PyTorch"

    def __init__(self, weights, x, y, optimizer="sgd", learning_rate=None, momentum=None,
                 activation="relu", seed=0, threads=None):
        super().__init__(weights, x, y, optimizer, learning_rate, momentum, activation, seed)
        import torch
        if threads is not None:
            torch.set_num_threads(threads)
        self._torch = torch
        self._inputs = torch.from_numpy(self.x)
        self._labels = torch.from_numpy(self.y.astype(np.int64))
        self._loss = torch.nn.CrossEntropyLoss()
        self.set_weights(weights)

    def set_weights(self, weights):
        torch = self._torch
        dtype = {np.float32: torch.float32, np.float64: torch.float64}[self.dtype.type]
        hidden = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
                  "linear": torch.nn.Identity, "softmax": lambda: torch.nn.Softmax(dim=1),
                  "leaky_relu": lambda: torch.nn.LeakyReLU(LEAKY_SLOPE)}[self.activation]
        layers = []
        for w, b in layer_pairs(weights):
            linear = torch.nn.Linear(w.shape[0], w.shape[1], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T, self.dtype)))
                linear.bias.copy_(torch.from_numpy(np.asarray(b, self.dtype)))
            layers += [linear, hidden()]
        self.net = torch.nn.Sequential(*layers[:-1])        # logits out
        self._optimizer = self._make_optimizer()

    def _make_optimizer(self):
        optim, s = self._torch.optim, self.settings
        params = self.net.parameters()
        if self.optimizer == "sgd":
            return optim.SGD(params, lr=s["learning_rate"], momentum=s["momentum"])
        if self.optimizer == "adam":
            return optim.Adam(params, lr=s["learning_rate"], betas=(s["beta_1"], s["beta_2"]),
                              eps=s["epsilon"])
        return optim.RMSprop(params, lr=s["learning_rate"], alpha=s["rho"], eps=s["epsilon"],
                             momentum=s["momentum"])

    def get_weights(self):
        weights = []
        for layer in self.net:
            if isinstance(layer, self._torch.nn.Linear):
                weights += [layer.weight.detach().numpy().T.copy(),
                            layer.bias.detach().numpy().copy()]
        return weights

    def epoch(self, batch_size, n=None):
        order = self._torch.from_numpy(self._permutation(n))
        for first in range(0, len(order), batch_size):
            rows = order[first:first + batch_size]
            self._optimizer.zero_grad(set_to_none=True)
            self._loss(self.net(self._inputs[rows]), self._labels[rows]).backward()
            self._optimizer.step()

    def predict(self, x):
        torch = self._torch
        with torch.inference_mode():
            return self.net(torch.from_numpy(np.asarray(x, self.dtype))).softmax(dim=1).numpy()
