"""Small problems, where the time between epochs decides: fit's runs of epochs in
one compiled call against the floor of the same epochs handed to the kernel
directly, the seed document's 3-4-1 network against its own NumPy loop, and the
fixed cost of one fit or predict call.
"""
import time

import numpy as np

from fastnn import Dense, Sequential
from fastnn.optimizers import SGD

from . import common

EPOCHS = {"fast": 50, "regular": 500}[common.PROFILE]
SEED_ITERATIONS = {"fast": 2_000, "regular": 20_000}[common.PROFILE]
X341 = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
Y341 = np.array([[0], [1], [1], [0]], dtype=float)


def tabular(n=2_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype("float32")
    return x, (x[:, :1] * x[:, 1:2] + np.sin(x[:, 2:3])).astype("float32")


def tabular_model():
    model = Sequential([Dense(32, activation="relu", input_dim=8),
                        Dense(32, activation="relu"), Dense(1)], seed=0)
    model.compile(optimizer=SGD(0.01, momentum=0.9), loss="mse")
    return model


def seed_341():
    model = Sequential([Dense(4, activation="sigmoid", use_bias=False, input_dim=3),
                        Dense(1, activation="sigmoid", use_bias=False)], dtype="float64",
                       seed=1)
    model.compile(optimizer=SGD(1.0), loss="sse")
    return model


def blog_numpy_loop(iterations):
    """The seed blog's loop over its 3-4-1 network, as written there."""
    rng = np.random.default_rng(1)
    syn0, syn1 = 2 * rng.random((3, 4)) - 1, 2 * rng.random((4, 1)) - 1
    for _ in range(iterations):
        l1 = 1 / (1 + np.exp(-X341.dot(syn0)))
        l2 = 1 / (1 + np.exp(-l1.dot(syn1)))
        l2_delta = (Y341 - l2) * l2 * (1 - l2)
        l1_delta = l2_delta.dot(syn1.T) * l1 * (1 - l1)
        syn1 += l1.T.dot(l2_delta)
        syn0 += X341.T.dot(l1_delta)


class SmallTabular(common.Benchmark):
    """2,000 x 8 rows, 8-32-32-1, batch 32, ``EPOCHS`` epochs in one ``fit``."""

    def setup(self):
        self.x, self.y = tabular()
        tabular_model().fit(self.x, self.y, epochs=2, verbose=0)  # compile, warm

    def time_fit(self):
        tabular_model().fit(self.x, self.y, epochs=EPOCHS, batch_size=32, verbose=0)

    def track_fit_over_one_kernel_call(self):
        """fit's time over the same epochs handed to the compiled kernel in one call
        (orders and rates ready): what the Python around the kernel costs."""
        model = tabular_model()
        model.build()
        # Imported here, so that on older commits (no such module) only this one fails.
        from fastnn.model_data import check_data

        data = check_data(model, "bench", self.x, self.y)
        orders = np.stack([np.random.default_rng(0).permutation(len(self.x))
                           for _ in range(EPOCHS)])
        rates = model.optimizer.rates(EPOCHS * -(-len(self.x) // 32), model.dtype)
        hyper = model.optimizer.hyper(model.dtype)

        def one_call():
            model._engine.train_epochs(data, orders, 32, hyper, rates)

        def through_fit():
            tabular_model().fit(self.x, self.y, epochs=EPOCHS, batch_size=32, verbose=0)

        direct, fit = common.interleaved_best_times(one_call, through_fit)
        return fit / direct

    track_fit_over_one_kernel_call.unit = "x"


class Seed341(common.Benchmark):
    """The seed blog's 3-4-1 network, full batch of 4, through ``fit``."""

    def setup(self):
        seed_341().fit(X341, Y341, batch_size=4, epochs=10, shuffle=False, verbose=0)

    def time_fit_iterations(self):
        seed_341().fit(X341, Y341, batch_size=4, epochs=SEED_ITERATIONS, shuffle=False,
                       verbose=0)

    def track_speedup_vs_blog_numpy(self):
        """The blog's NumPy loop's time per iteration over fastnn's."""
        ours, theirs = common.interleaved_best_times(
            lambda: seed_341().fit(X341, Y341, batch_size=4, epochs=SEED_ITERATIONS,
                                   shuffle=False, verbose=0),
            lambda: blog_numpy_loop(SEED_ITERATIONS))
        return theirs / ours

    track_speedup_vs_blog_numpy.unit = "x"


class CallOverhead(common.Benchmark):
    """The fixed cost of one call: fit(epochs=1) on 4 rows, predict on one row."""

    def setup(self):
        self.small = seed_341()
        self.small.fit(X341, Y341, batch_size=4, epochs=2, verbose=0)
        self.seed = common.make_model(64, "float32", "sgd")
        self.row = np.random.default_rng(0).random((1, 784), dtype=np.float32)
        self.seed.predict(self.row)

    def time_fit_one_epoch_4_rows(self):
        self.small.fit(X341, Y341, batch_size=4, epochs=1, verbose=0)

    def time_predict_one_row(self):
        self.seed.predict(self.row)
