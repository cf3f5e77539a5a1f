"""Learning, on the real Fashion-MNIST: test accuracy after a fixed number of epochs.

The NumPy reference trains from the same initial weights, so a speedup that changes
what the network learns shows as a gap between the two figures. Skipped (setup raises
NotImplementedError) when the dataset is not installed locally.
"""
import numpy as np

from . import common
from .datasets import fashion_mnist

BATCH_SIZE = 32
WIDTH = 64


class FashionMnistAccuracy(common.Benchmark):
    """784-64-64-10 trained ``ACCURACY_EPOCHS`` epochs (fast profile: on the first
    ``N_TRAIN`` training images), evaluated on the 10,000 test images."""

    params = (common.OPTIMIZERS,)
    param_names = ["optimizer"]
    unit = "accuracy"

    def setup(self, optimizer):
        data = fashion_mnist()
        if data is None:
            raise NotImplementedError("Fashion-MNIST is not installed "
                                      "(see fastnn.datasets.fashion_mnist.search_dirs())")
        (x_train, y_train), (self.x_test, self.y_test) = data
        self.x_train, self.y_train = x_train[:common.N_TRAIN], y_train[:common.N_TRAIN]

    def track_test_accuracy(self, optimizer):
        model = common.make_model(WIDTH, "float32", optimizer, metrics=["accuracy"])
        model.fit(self.x_train, self.y_train, batch_size=BATCH_SIZE,
                  epochs=common.ACCURACY_EPOCHS, verbose=0)
        return model.evaluate(self.x_test, self.y_test)["accuracy"]

    def track_test_accuracy_numpy_reference(self, optimizer):
        from fastnn.reference import ReferenceMLP

        weights = common.initial_weights(WIDTH, "float32")
        hyper = {"momentum": common.MOMENTUM} if optimizer == "sgd" else {
            "epsilon": common.ADAM_EPSILON}
        reference = ReferenceMLP(weights[0::2], weights[1::2], common.ACTIVATIONS,
                                 common.LOSS, optimizer,
                                 learning_rate=common.LEARNING_RATE[optimizer], **hyper)
        targets = common.one_hot(self.y_train, np.float32)
        sample_weight = np.ones(len(self.x_train), np.float32)
        rng = np.random.default_rng(common.SEED)
        with common.numpy_blas_limits(BATCH_SIZE):
            for _ in range(common.ACCURACY_EPOCHS):
                reference.train_epoch(self.x_train, targets,
                                      rng.permutation(len(self.x_train)), BATCH_SIZE,
                                      sample_weight)
        predicted = reference.predict(self.x_test).argmax(axis=1)
        return float((predicted == self.y_test).mean())
