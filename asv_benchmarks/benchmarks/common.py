"""Settings shared by the whole suite: the profile, the benchmarked networks, warm-up.

Profiles (environment variable ``FASTNN_BENCH_PROFILE``, scikit-learn's
``SKLBENCH_PROFILE`` idea):

- ``regular`` (default): Fashion-MNIST-sized data, 60,000 training samples.
- ``fast``: 6,000 training samples, and the peers (PyTorch, scikit-learn, the NumPy
  reference) on a smaller grid (float32 only; speedup ratios for SGD only), so that
  ``asv run --python=same --quick`` of the whole suite takes a few minutes: asv runs
  every parameter combination in its own process, and importing PyTorch alone costs
  2-3 s of each. The JAX and Keras peers are left out (their benchmarks report
  skipped): importing them and compiling each shape costs seconds more per process.

The benchmarked network is the seed network's shape at two widths:
784-W-W-10, relu/relu/softmax, sparse categorical cross-entropy, trained by
SGD (learning rate 0.01, momentum 0.9) or Adam (0.001, epsilon 1e-7). Every peer
(the NumPy reference, PyTorch, scikit-learn, JAX, Keras 3) starts from the same
initial weights.
"""
import contextlib
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

PROFILES = {
    "fast": {"n_train": 6_000, "accuracy_epochs": 2, "track_repeats": 2,
             "peer_dtypes": ["float32"], "speedup_optimizers": ["sgd"],
             "peers": ["numpy_reference", "torch", "sklearn"]},
    "regular": {"n_train": 60_000, "accuracy_epochs": 5, "track_repeats": 3,
                "peer_dtypes": ["float32", "float64"], "speedup_optimizers": ["sgd", "adam"],
                "peers": ["numpy_reference", "torch", "sklearn", "jax", "keras"]},
}
PROFILE = os.environ.get("FASTNN_BENCH_PROFILE", "regular")
if PROFILE not in PROFILES:
    raise ValueError(f"FASTNN_BENCH_PROFILE must be one of {sorted(PROFILES)}, "
                     f"got {PROFILE!r}.")
SETTINGS = PROFILES[PROFILE]

N_TRAIN = SETTINGS["n_train"]
N_PREDICT = 10_000              # rows of the batch-inference benchmark, every profile
N_FEATURES = 784
N_CLASSES = 10
ACCURACY_EPOCHS = SETTINGS["accuracy_epochs"]
TRACK_REPEATS = SETTINGS["track_repeats"]   # best-of-N inside track_ functions

BATCH_SIZES = [32, 128, 1024]
WIDTHS = [64, 512]
DTYPES = ["float32", "float64"]
OPTIMIZERS = ["sgd", "adam"]
PEERS = SETTINGS["peers"]                             # grid of baselines.PeerEpoch/Predict
PEER_DTYPES = SETTINGS["peer_dtypes"]                 # grid of baselines.PeerEpoch/Predict
SPEEDUP_OPTIMIZERS = SETTINGS["speedup_optimizers"]   # grid of baselines.SpeedupVs*

LEARNING_RATE = {"sgd": 0.01, "adam": 0.001}
MOMENTUM = 0.9
ADAM_EPSILON = 1e-7             # Keras's default, which fastnn follows
LOSS = "sparse_categorical_crossentropy"
ACTIVATIONS = ["relu", "relu", "softmax"]
SEED = 0


class Benchmark:
    """Base of every benchmark class: wall-clock timer, one call per sample.

    asv re-runs ``setup`` before every sample, so each sample times the same
    epoch of a freshly seeded model (datasets are cached per process).
    """

    timer = time.perf_counter
    number = 1
    warmup_time = 0            # setup already compiled and warmed what is timed
    repeat = (3, 10, 30.0)     # (min, max samples, seconds); --quick takes one
    timeout = 600


def make_model(width, dtype, optimizer, seed=SEED, metrics=None):
    """A compiled fastnn model 784-width-width-10 with the suite's optimizer settings."""
    from fastnn import Dense, Sequential

    model = Sequential([Dense(width, activation="relu", input_dim=N_FEATURES),
                        Dense(width, activation="relu"),
                        Dense(N_CLASSES, activation="softmax")], dtype=dtype, seed=seed)
    model.compile(optimizer=make_optimizer(optimizer), loss=LOSS, metrics=metrics)
    return model


def make_optimizer(name):
    from fastnn.optimizers import SGD, Adam

    if name == "sgd":
        return SGD(learning_rate=LEARNING_RATE["sgd"], momentum=MOMENTUM)
    if name == "adam":
        return Adam(learning_rate=LEARNING_RATE["adam"], epsilon=ADAM_EPSILON)
    raise ValueError(f"unknown optimizer {name!r}")


def initial_weights(width, dtype, seed=SEED):
    """``[W1, b1, W2, b2, W3, b3]`` (W as (n_in, n_out)) of the seeded fastnn model."""
    return make_model(width, dtype, "sgd", seed).get_weights()


def warm_up(model, x, y, batch_size):
    """One epoch of 8 mini-batches (a tiny slice): compiles (or loads from Numba's
    cache) the dtype's kernels and allocates the batch size's workspace, so the timed
    call does neither. Eight, not one or two: fastnn's CPU engine tries its ways of
    running an epoch (one thread, a team of threads; a parallel and a serial kernel in
    earlier versions) on its first chunks of batches and keeps the fastest, and a
    shorter warm-up left a kernel to compile or load in the middle of a timed epoch."""
    rows = min(x.shape[0], 8 * batch_size)
    model.fit(x[:rows], y[:rows], batch_size=batch_size, epochs=1, verbose=0)


def fit_epoch(model, x, y, batch_size):
    """The timed unit: one shuffled training epoch, as a user calls it."""
    return model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)


def numpy_blas_threads(batch_size):
    """BLAS threads for the NumPy-based peers (reference, scikit-learn).

    Below 128 rows a second OpenBLAS thread only adds hand-offs on 2 cores (the
    NumPy reference's 32-row epoch of 784-64-64-10 took 0.05 s on one thread and
    0.25-2 s on two, on the shared benchmark machine), so they get the setting
    that is best for them: one thread for small batches, OpenBLAS's default above.
    """
    return 1 if batch_size < 128 else None


def numpy_blas_limits(batch_size):
    """Context manager applying ``numpy_blas_threads`` (nothing to do for the default)."""
    threads = numpy_blas_threads(batch_size)
    if threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def best_time(function, repeats=TRACK_REPEATS):
    """Smallest wall-clock time of ``repeats`` calls of ``function()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


# Idle time before each timed call of a side-by-side measurement: right after a
# multithreaded call, its worker threads (OpenBLAS's, OpenMP's) keep spinning for a
# while, and measured here they slowed the next engine's 128-row epoch by half.
SETTLE_SECONDS = 0.25


def interleaved_best_times(first, second, repeats=TRACK_REPEATS):
    """(best time of first, best time of second), calls alternating so that both
    see the same machine load: the ratio of the two is measured side by side."""
    a, b = [], []
    for _ in range(repeats):
        for function, times in ((first, a), (second, b)):
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return min(a), min(b)


def one_hot(labels, dtype):
    return np.eye(N_CLASSES, dtype=dtype)[labels]
