"""Many models at once, timed: ``fastnn.fit_many`` against the same models fit one
after another, and against JAX's ``vmap`` over the models (``fastnn_peers.jax.JaxVmap``,
when the peers package and JAX are installed), with the floor the arithmetic sets at
the cores' measured peak.

``fastnn bench --models K`` prints the table; the asv suite
(``asv_benchmarks/benchmarks/many.py``) records the same runners. Every runner
trains the same K models (the same initial weights, each its own learning rate,
spread log-uniformly over [1e-3, 1e-1], or Adam at 1e-3) on the same data, one
epoch per call, with a fresh shuffle each epoch.

Problems:

- ``tabular``: K x 8-32-32-1 (relu, relu, linear), mean squared error, 16,384 rows:
  the small problem sweeps are run on most, where per-call overhead decides.
- ``seed``: K x 784-64-64-10 (relu, relu, softmax), sparse categorical
  cross-entropy, Fashion-MNIST's 60,000 training images (or synthetic ones).

The epoch covers whole batches only (n rounded down to a multiple of the batch
size), so JAX's scan over the batches needs no partial step.
"""
import time

import numpy as np

PROBLEMS = {
    "tabular": {"sizes": (8, 32, 32, 1), "activations": ("relu", "relu", "linear"),
                "loss": "mse", "n": 16_384},
    "seed": {"sizes": (784, 64, 64, 10), "activations": ("relu", "relu", "softmax"),
             "loss": "sparse_categorical_crossentropy", "n": 60_000},
}
MOMENTUM = 0.9
ADAM_RATE = 1e-3
RUNNERS = ("fit_many", "sequential", "jax_vmap")


def problem_data(name, seed=0, dtype="float32", images=None):
    """(x, y) of a problem: ``tabular`` is synthetic; ``seed`` takes (x, labels) from
    ``images`` (e.g. Fashion-MNIST, flattened and scaled) or draws synthetic ones."""
    spec = PROBLEMS[name]
    rng = np.random.default_rng(seed)
    if name == "seed" and images is not None:
        return images
    x = rng.standard_normal((spec["n"], spec["sizes"][0])).astype(dtype)
    if spec["loss"] == "mse":
        y = (x[:, :1] * x[:, 1:2] + np.sin(x[:, 2:3]) - 0.5 * x[:, 3:4]).astype(dtype)
    else:
        centers = rng.standard_normal((spec["sizes"][-1], spec["sizes"][0]))
        y = np.argmax(x @ centers.T, axis=1).astype(np.int64)
    return x, y


def learning_rates(count, seed=0):
    """K learning rates spread log-uniformly over [1e-3, 1e-1] (a sweep's)."""
    return 10.0 ** np.random.default_rng(seed).uniform(-3, -1, count)


def make_models(name, count, optimizer="sgd", dtype="float32", seed=0):
    """K compiled fastnn models of a problem, each with its own seed and rate."""
    from fastnn import Dense, Sequential
    from fastnn.optimizers import SGD, Adam

    spec = PROBLEMS[name]
    models = []
    for k, rate in enumerate(learning_rates(count, seed)):
        layers = [Dense(units, activation=activation)
                  for units, activation in zip(spec["sizes"][1:], spec["activations"])]
        layers[0] = Dense(spec["sizes"][1], activation=spec["activations"][0],
                          input_dim=spec["sizes"][0])
        model = Sequential(layers, dtype=dtype, seed=seed + k)
        model.compile(optimizer=SGD(rate, momentum=MOMENTUM) if optimizer == "sgd"
                      else Adam(ADAM_RATE), loss=spec["loss"])
        model.build()
        models.append(model)
    return models


def flops_per_epoch(name, count, n):
    """Multiply-adds x 2 of one epoch of K models: forward, weight gradient, and the
    input delta of every layer but the first."""
    sizes = PROBLEMS[name]["sizes"]
    products = sum(sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1))
    return count * n * 2 * (3 * products - sizes[0] * sizes[1])


def peak_flops(dtype="float32", threads=1, seconds=0.3):
    """Measured peak FLOP/s: a 512 x 512 x 512 product with the kernels' BLAS on one
    thread, times ``threads`` (the cores a run may use)."""
    from numba import njit

    from .kernels.blas import _gemm
    from .kernels.dense import NO

    @njit(nogil=True)
    def products(c, a, b, count):
        for _ in range(count):
            _gemm(c, a, b, NO, NO, 1.0, 0.0)

    a = np.ones((512, 512), dtype)
    c = np.empty_like(a)
    products(c, a, a, 1)
    count, best = 4, np.inf
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        products(c, a, a, count)
        best = min(best, (time.perf_counter() - start) / count)
    return threads * 2 * 512 ** 3 / best


class FitMany:
    """All K models in one ``fastnn.fit_many`` epoch."""

    def __init__(self, models, x, y):
        self.models, self.x, self.y = models, x, y

    def epoch(self, batch_size):
        import fastnn

        fastnn.fit_many(self.models, self.x, self.y, batch_size=batch_size, verbose=0)


class Sequential:
    """The K models one ``fit`` after another, as a loop over a sweep does."""

    def __init__(self, models, x, y):
        self.models, self.x, self.y = models, x, y

    def epoch(self, batch_size):
        for model in self.models:
            model.fit(self.x, self.y, batch_size=batch_size, verbose=0)


def make_runner(kind, models, x, y):
    """A runner of ``kind`` for these models; ``jax_vmap`` is the peers package's
    ``fastnn_peers.jax.JaxVmap`` (``pip install -e ./peers``)."""
    if kind == "jax_vmap":
        from fastnn_peers.jax import JaxVmap

        return JaxVmap(models, x, y)
    return {"fit_many": FitMany, "sequential": Sequential}[kind](models, x, y)


def jax_available():
    """Whether the JAX vmap runner can run: the peers package and jax both installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("fastnn_peers", "jax"))


def time_epochs(runner, batch_size, repeats):
    """Seconds of each of ``repeats`` epochs, after one untimed warm-up epoch."""
    runner.epoch(batch_size)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner.epoch(batch_size)
        times.append(time.perf_counter() - start)
    return times


def bench(name, count, batch_sizes, optimizer="sgd", repeats=3, kinds=RUNNERS, data=None,
          dtype="float32", threads=1):
    """Rows of the table: one per batch size, each runner's median seconds per epoch
    (and spread), the ratios to fit_many, and the floor at the measured peak."""
    x, y = data if data is not None else problem_data(name, dtype=dtype)
    rows = []
    peak = peak_flops(dtype, threads)
    for batch_size in batch_sizes:
        n = x.shape[0] // batch_size * batch_size
        row = {"batch_size": batch_size, "floor": flops_per_epoch(name, count, n) / peak}
        for kind in kinds:
            if kind == "jax_vmap" and not jax_available():
                continue
            runner = make_runner(kind, make_models(name, count, optimizer, dtype),
                                 x[:n], y[:n])
            row[kind] = time_epochs(runner, batch_size, repeats)
        rows.append(row)
    return rows


def format_rows(name, count, rows):
    """The table as text: median (min-max) seconds per epoch of all K models."""
    kinds = [k for k in RUNNERS if any(k in row for row in rows)]
    header = ["batch"] + [f"{k} s/epoch" for k in kinds] + [
        f"{k} / fit_many" for k in kinds if k != "fit_many"] + ["FLOP floor s"]
    lines = [f"{count} x {name} ({'-'.join(map(str, PROBLEMS[name]['sizes']))}), "
             "all models, seconds per epoch: median (min-max)", " | ".join(header)]
    for row in rows:
        cells = [str(row["batch_size"])]
        for kind in kinds:
            times = row.get(kind)
            cells.append("-" if times is None else
                         f"{np.median(times):.3f} ({min(times):.3f}-{max(times):.3f})")
        base = np.median(row["fit_many"]) if "fit_many" in row else None
        for kind in kinds:
            if kind != "fit_many":
                cells.append("-" if kind not in row or base is None
                             else f"{np.median(row[kind]) / base:.2f}x")
        cells.append(f"{row['floor']:.3f}")
        lines.append(" | ".join(cells))
    return "\n".join(lines)
