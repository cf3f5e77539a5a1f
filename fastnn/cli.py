"""The ``fastnn`` command: train the seed network, benchmark it, describe the setup.

::

    fastnn train   train 784-64-64-10 (relu, softmax, adam) on Fashion-MNIST or MNIST
    fastnn bench   time one epoch of fastnn beside the NumPy reference, PyTorch, sklearn,
                   JAX and Keras 3
    fastnn info    versions, BLAS libraries, thread counts, CUDA availability

``python -m fastnn`` runs the same command. :func:`main` takes an argument list and
returns the exit status, so tests and other programs can call it directly.
"""
import argparse
import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import sys
import time
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from . import __version__
from .datasets import fashion_mnist, mnist
from .kernels import blas
from .layers import Dense
from .model import Sequential
from .optimizers import OPTIMIZERS
from .reference import ReferenceMLP
from .registries import ACTIVATIONS

DATASETS = {"fashion_mnist": fashion_mnist, "mnist": mnist}
TITLES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "synthetic": "synthetic data"}
LOSS = "sparse_categorical_crossentropy"
N_FEATURES, N_CLASSES = 784, 10
FRAMEWORKS = ("fastnn", "numpy", "torch", "sklearn", "jax", "keras")
LABELS = {"fastnn": "fastnn", "numpy": "numpy reference", "torch": "pytorch",
          "sklearn": "scikit-learn", "jax": "jax", "keras": "keras"}
# Exceptions that mean "the request cannot be done", reported as one message, exit 2.
# FloatingPointError: fit's divergence report; OSError: missing data, unwritable --save.
# MemoryError too: a network too large for the machine ("--hidden 100000000") is the
# user's to fix, and NumPy's message says how much it asked for.
USER_ERRORS = (ValueError, OSError, RuntimeError, FloatingPointError, MemoryError)


class UsageError(ValueError):
    """A combination of options the command cannot run."""


# ------------------------------------------------------------------ argument types
def int_list(text):
    """Parse ``"64,64"`` into ``(64, 64)``: comma-separated positive ints.

    Parameters
    ----------
    text : str

    Returns
    -------
    tuple of int

    Raises
    ------
    argparse.ArgumentTypeError
        When an item is not a positive integer (argparse turns it into exit 2).
    """
    items = [item.strip() for item in text.split(",")]
    try:
        values = tuple(int(item) for item in items)
    except ValueError:
        bad = next(item for item in items if not item.lstrip("+").isdigit())
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 64,64; {bad!r} in "
            f"{text!r} is not an integer") from None
    if any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such "
                                         f"as 64,64; every size must be >= 1, got {text!r}")
    return values


def positive_int(text):
    """An argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _sizes(values):
    return ",".join(str(v) for v in values)


# ----------------------------------------------------------------------- parsers
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                     argparse.RawDescriptionHelpFormatter):
    """Defaults shown after options that have one; description and epilog kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


TOP_EPILOG = """\
examples:
  fastnn train                      the seed network on Fashion-MNIST, 20 epochs
  fastnn train --epochs 5 --hidden 128,64 --save model.npz
  fastnn bench --batch-size 32,128,1024 --optimizer sgd
  fastnn info                       versions, BLAS, threads, CUDA

'fastnn COMMAND --help' describes each command's options.
"""

TRAIN_EPILOG = """\
examples:
  fastnn train
  fastnn train --dataset mnist --data-dir ~/data/mnist --epochs 5
  fastnn train --hidden 128,64 --optimizer sgd --lr 0.05 --momentum 0.9 --save model.npz
  fastnn train --synthetic --samples 2000 --epochs 2 --verbose 2

The saved file loads with fastnn.load_model(PATH). Images are scaled to [0, 1]
(x / 255) and flattened to 784 features, as in the seed Keras example.
"""

BENCH_EPILOG = """\
examples:
  fastnn bench
  fastnn bench --batch-size 32,128,1024 --optimizer sgd --lr 0.01
  fastnn bench --synthetic --samples 10000 --repeats 5 --threads 1
  fastnn bench --frameworks fastnn,numpy --dtype float64
  fastnn bench --frameworks torch,jax,keras --optimizer sgd --momentum 0.9
  fastnn bench --models 16 --optimizer sgd --batch-size 32,128
  fastnn bench --models 64 --problem tabular --optimizer sgd --batch-size 32

Every framework starts each epoch from the same initial weights (fastnn's
seeded Glorot draw) and trains one shuffled epoch on the same data, after an
untimed warm-up on a few batches (which compiles fastnn's kernels). The timed
epochs run in rounds, one epoch of each framework per round, so that all see the
same machine load. "x fastnn" is the median over rounds of the framework's time
divided by fastnn's in the same round (above 1: slower than fastnn).
PyTorch runs a plain index loop (no DataLoader); scikit-learn runs
MLPClassifier.partial_fit (sgd and adam only; relu, tanh, sigmoid, linear).
JAX runs each epoch's full batches in one jitted lax.scan (fastnn.peers.JaxPeer);
Keras 3 runs one model.fit per epoch, on the JAX backend when jax is installed
(KERAS_BACKEND, if set, wins); both are compiled for the epoch's shapes before the
timer starts. pip install -e ".[peers]" installs them.
"""


def _add_data_options(parser, samples_help):
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=sorted(DATASETS), default="fashion_mnist",
                       help="images to learn from (fastnn.datasets.<name>.load_data)")
    group.add_argument("--data-dir", metavar="PATH", default=None,
                       help="directory holding the four IDX files (load_data(path=PATH)); "
                            "default: $FASTNN_DATA, system directories, the user cache")
    group.add_argument("--no-download", action="store_true",
                       help="fail instead of downloading when the files are not found")
    group.add_argument("--synthetic", action="store_true",
                       help="use seeded random 784-feature, 10-class data instead")
    group.add_argument("--samples", type=positive_int, metavar="N", default=None,
                       help=samples_help)


def _add_model_options(parser, optimizers, default_optimizer):
    group = parser.add_argument_group("model and optimizer")
    group.add_argument("--hidden", type=int_list, default="64,64", metavar="SIZES",
                       help="hidden layer sizes, comma-separated")
    group.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                       help="activation of the hidden layers (the output is softmax)")
    group.add_argument("--optimizer", choices=optimizers, default=default_optimizer,
                       help="update rule, Keras 3 semantics")
    group.add_argument("--lr", type=float, default=None, metavar="RATE",
                       help="learning rate; default: the optimizer's (sgd 0.01, adam and "
                            "rmsprop 0.001)")
    group.add_argument("--momentum", type=float, default=None,
                       help="momentum for sgd and rmsprop; default: 0")
    group.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="dtype of data, weights and computation")
    group.add_argument("--seed", type=int, default=0,
                       help="seeds initial weights, shuffling and synthetic data")


def _add_threads_option(parser):
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="limit BLAS (threadpoolctl) and Numba threads to N; "
                             "default: all cores")


def _train_parser(subparsers):
    parser = subparsers.add_parser(
        "train", formatter_class=_HelpFormatter, epilog=TRAIN_EPILOG,
        help="train the seed network and report test accuracy and speed",
        description="Train a dense network (default 784-64-64-10, relu/softmax, adam, "
                    "sparse categorical cross-entropy: the seed Keras example) with a "
                    "progress bar per epoch, then report test accuracy, test loss, "
                    "training samples/s and total time.")
    _add_data_options(parser, "train on the first N training samples only (synthetic: "
                              "N samples, default 10000)")
    _add_model_options(parser, sorted(OPTIMIZERS), "adam")
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=positive_int, default=20, help="passes over the data")
    group.add_argument("--batch-size", type=positive_int, default=32, metavar="N",
                       help="samples per update")
    group.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="cuda runs the numba.cuda kernels (needs a GPU or the simulator)")
    _add_threads_option(group)
    group.add_argument("--save", metavar="PATH", default=None,
                       help="write the trained model to PATH (.npz; fastnn.load_model)")
    group.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                       help="0 summary only, 1 progress bar per epoch, 2 one line per epoch")
    parser.set_defaults(func=run_train)


def _bench_parser(subparsers):
    parser = subparsers.add_parser(
        "bench", formatter_class=_HelpFormatter, epilog=BENCH_EPILOG,
        help="time one training epoch of fastnn beside NumPy, PyTorch, scikit-learn, "
             "JAX and Keras",
        description="Time one training epoch of the same network on the same data with "
                    "fastnn, the NumPy reference (fastnn.reference.ReferenceMLP) and, when "
                    "importable, PyTorch, scikit-learn, JAX and Keras 3, taking turns. Prints "
                    "the median and minimum seconds per epoch of --repeats rounds and each "
                    "one's ratio to fastnn.")
    _add_data_options(parser, "use the first N training samples (synthetic: N samples); "
                              "default: all 60000")
    _add_model_options(parser, ["adam", "rmsprop", "sgd"], "adam")
    group = parser.add_argument_group("benchmark")
    group.add_argument("--batch-size", type=int_list, default="32,128,1024", metavar="SIZES",
                       help="batch sizes, comma-separated")
    group.add_argument("--repeats", type=positive_int, default=3,
                       help="timed rounds (one epoch of each framework) per batch size")
    group.add_argument("--frameworks", default=",".join(FRAMEWORKS), metavar="NAMES",
                       help="comma-separated subset of " + ", ".join(FRAMEWORKS))
    group.add_argument("--models", type=positive_int, default=None, metavar="K",
                       help="time K models at once instead: fastnn.fit_many against the K "
                            "models fit one after another and JAX's vmap over them, each "
                            "model its own seed and learning rate (sgd: momentum 0.9, rates "
                            "spread over 1e-3..1e-1; adam: 1e-3); the network is --problem's")
    group.add_argument("--problem", choices=["seed", "tabular"], default="seed",
                       help="with --models: seed = 784-64-64-10 on the dataset; tabular = "
                            "8-32-32-1, mse, 16,384 synthetic rows")
    _add_threads_option(group)
    parser.set_defaults(func=run_bench)


def build_parser():
    """The ``fastnn`` argument parser with its train, bench and info commands.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="fastnn", formatter_class=_HelpFormatter, epilog=TOP_EPILOG,
        description="fastnn trains dense neural networks (MLPs) with fused Numba kernels "
                    "behind a Keras-shaped API. This command trains and benchmarks the "
                    "seed network, 784-64-64-10 on Fashion-MNIST.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       title="commands")
    _train_parser(subparsers)
    _bench_parser(subparsers)
    info = subparsers.add_parser(
        "info", formatter_class=_HelpFormatter, help="print versions, BLAS, threads, CUDA",
        description="Print the versions of fastnn and its dependencies, the BLAS "
                    "libraries loaded (threadpoolctl), thread counts and whether CUDA "
                    "kernels can run.", epilog="example:\n  fastnn info\n")
    info.set_defaults(func=run_info)
    return parser


# -------------------------------------------------------------------------- data
def synthetic_data(n_train, seed, dtype):
    """Seeded, learnable 784-feature, 10-class data with values in [0, 1].

    Each sample is half its class's random template, half uniform noise.

    Parameters
    ----------
    n_train : int
        Training samples; the test set has ``max(n_train // 6, 100)``.
    seed : int or None
    dtype : str

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        x (n, 784) of ``dtype``, y (n,) uint8.
    """
    rng = np.random.default_rng(seed)
    templates = rng.random((N_CLASSES, N_FEATURES), dtype=np.float32)

    def draw(n):
        y = rng.integers(0, N_CLASSES, n).astype(np.uint8)
        noise = rng.random((n, N_FEATURES), dtype=np.float32)
        return (0.5 * templates[y] + 0.5 * noise).astype(dtype), y

    return draw(n_train), draw(max(n_train // 6, 100))


def flatten_images(images, dtype):
    """uint8 images (n, 28, 28) -> (n, 784) of ``dtype`` scaled to [0, 1]."""
    x = images.reshape(images.shape[0], -1).astype(dtype)
    x /= 255
    return x


def load_arrays(args, synthetic_samples):
    """The (train, test) arrays ``args`` asks for, flattened and scaled.

    Parameters
    ----------
    args : argparse.Namespace
        Uses dataset, data_dir, no_download, synthetic, samples, seed, dtype.
    synthetic_samples : int
        Training samples of synthetic data when ``args.samples`` is None.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)

    Raises
    ------
    fastnn.datasets.DatasetNotFoundError
        The loader's message: where it looked and how to provide the files.
    """
    if args.synthetic:
        return synthetic_data(args.samples or synthetic_samples, args.seed, args.dtype)
    loader = DATASETS[args.dataset]
    (x, y), (x_test, y_test) = loader.load_data(path=args.data_dir,
                                                download=not args.no_download)
    if args.samples is not None:
        x, y = x[:args.samples], y[:args.samples]
    return (flatten_images(x, args.dtype), y), (flatten_images(x_test, args.dtype), y_test)


def _data_title(args):
    return "synthetic data" if args.synthetic else TITLES[args.dataset]


# ------------------------------------------------------------------- model setup
def build_model(hidden, activation, dtype, seed):
    """784 -> hidden... -> 10 softmax, as a fastnn Sequential (not compiled).

    Parameters
    ----------
    hidden : tuple of int
    activation : str
        Hidden layers' activation.
    dtype : str
    seed : int or None

    Returns
    -------
    Sequential
    """
    model = Sequential(dtype=dtype, seed=seed)
    inputs = N_FEATURES
    for units in hidden:
        model.add(Dense(units, activation=activation, input_dim=inputs))
        inputs = units
    model.add(Dense(N_CLASSES, activation="softmax", input_dim=inputs))
    return model


def optimizer_settings(name, lr, momentum):
    """Keyword arguments for the optimizer ``name`` from --lr and --momentum.

    Raises
    ------
    UsageError
        When --momentum is given for adam.
    """
    settings = {} if lr is None else {"learning_rate": lr}
    if momentum is not None:
        if name == "adam":
            raise UsageError("--momentum applies to sgd and rmsprop, not adam")
        settings["momentum"] = momentum
    return settings


def make_optimizer(name, lr=None, momentum=None):
    """A fresh fastnn optimizer; the constructor checks the values (ValueError)."""
    return OPTIMIZERS[name](**optimizer_settings(name, lr, momentum))


@contextlib.contextmanager
def thread_limit(threads):
    """Limit BLAS/OpenMP pools (threadpoolctl) and Numba to ``threads`` inside the block.

    ``None`` changes nothing. Raises UsageError above Numba's thread count.
    """
    if threads is None:
        yield
        return
    import numba
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise UsageError(f"--threads {threads} exceeds the {numba.config.NUMBA_NUM_THREADS} "
                         "threads Numba started with (NUMBA_NUM_THREADS)")
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        numba.set_num_threads(previous)


def _architecture(hidden, activation):
    return (f"{N_FEATURES}-{'-'.join(map(str, hidden))}-{N_CLASSES} "
            f"({activation} hidden, softmax output)")


def _plural(count, noun):
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _optimizer_text(optimizer):
    text = f"{type(optimizer).__name__} (learning_rate {optimizer.learning_rate:g}"
    momentum = getattr(optimizer, "momentum", 0.0)
    return text + (f", momentum {momentum:g})" if momentum else ")")


# ------------------------------------------------------------------------- train
def run_train(args):
    """``fastnn train``: fit, evaluate, report and optionally save. Returns 0."""
    start = time.perf_counter()
    optimizer = make_optimizer(args.optimizer, args.lr, args.momentum)
    if args.save:
        check_save_path(args.save)  # before training, not after every epoch has run
    (x, y), (x_test, y_test) = load_arrays(args, synthetic_samples=10000)
    model = build_model(args.hidden, args.activation, args.dtype, args.seed)
    model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"], device=args.device)
    _print_train_header(args, model, x, x_test)
    with thread_limit(args.threads):
        fit_start = time.perf_counter()
        history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
                            verbose=args.verbose)
        fit_seconds = time.perf_counter() - fit_start
        scores = model.evaluate(x_test, y_test)
    if args.save:
        model.save(args.save)
    epochs_run = len(history.history["loss"])
    _print_train_summary(args, scores, x.shape[0], epochs_run, fit_seconds,
                         time.perf_counter() - start)
    return 0


def check_save_path(path):
    """Raise UsageError unless ``path`` can be written: its folder exists and is
    writable, and it is not a folder itself."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--save {path}: is a directory; give a file name such as "
                         f"{os.path.join(path, 'model.npz')}")
    if not os.path.isdir(folder):
        raise UsageError(f"--save {path}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--save {path}: the directory {folder} is not writable")


def _print_train_header(args, model, x, x_test):
    print(f"fastnn {__version__}: {_architecture(args.hidden, args.activation)}, "
          f"{model.count_params():,} parameters, {args.dtype}, device {args.device}")
    print(f"data: {_data_title(args)}, {x.shape[0]:,} training / {x_test.shape[0]:,} test "
          f"samples; optimizer: {_optimizer_text(model.optimizer)}; batch size "
          f"{args.batch_size}; {_plural(args.epochs, 'epoch')}; seed {args.seed}")
    if args.verbose:
        model.summary()
    sys.stdout.flush()


def _print_train_summary(args, scores, n_train, epochs_run, fit_seconds, total_seconds):
    rate = n_train * epochs_run / fit_seconds
    print()
    print(f"Test accuracy:   {scores['accuracy']:.4f}")
    print(f"Test loss:       {scores['loss']:.4f}")
    print(f"Training:        {rate:,.0f} samples/s ({epochs_run} epochs x {n_train:,} "
          f"samples in {fit_seconds:.2f} s, first-epoch compile or cache load included)")
    print(f"Total time:      {total_seconds:.2f} s")
    if args.save:
        print(f"Saved model:     {args.save} (load with fastnn.load_model)")


# ------------------------------------------------------------------------- bench
def _timed(function, *arguments):
    start = time.perf_counter()
    function(*arguments)
    return time.perf_counter() - start


def _fastnn_runner(x, y, spec):
    """epoch(batch_size, n): seconds for one ``model.fit`` epoch on the first n samples."""
    model = build_model(spec.hidden, spec.activation, spec.dtype, spec.seed)
    model.build()

    def epoch(batch_size, n):
        model.set_weights(spec.weights)
        model.compile(optimizer=make_optimizer(spec.optimizer, spec.lr, spec.momentum),
                      loss=LOSS)
        return _timed(model.fit, x[:n], y[:n], batch_size, 1, 0)

    return epoch


def _reference_runner(x, y, spec):
    """epoch(batch_size, n) for fastnn.reference.ReferenceMLP (one-hot targets)."""
    onehot = np.eye(N_CLASSES, dtype=x.dtype)[y]
    activations = [spec.activation] * len(spec.hidden) + ["softmax"]
    rng = np.random.default_rng(spec.seed)
    hyper = optimizer_settings(spec.optimizer, spec.lr, spec.momentum)

    def epoch(batch_size, n):
        mlp = ReferenceMLP(spec.weights[0::2], spec.weights[1::2], activations, LOSS,
                           spec.optimizer, **hyper)
        start = time.perf_counter()
        mlp.train_epoch(x, onehot, rng.permutation(n), batch_size)
        return time.perf_counter() - start

    return epoch


def _torch_network(torch, spec, dtype):
    """torch.nn.Sequential with spec's initial weights; logits out (softmax in the loss)."""
    modules = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
               "linear": torch.nn.Identity, "softmax": lambda: torch.nn.Softmax(dim=1),
               "leaky_relu": lambda: torch.nn.LeakyReLU(0.2)}
    layers = []
    for w, b in zip(spec.weights[0::2], spec.weights[1::2]):
        linear = torch.nn.Linear(w.shape[0], w.shape[1], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, modules[spec.activation]()]
    return torch.nn.Sequential(*layers[:-1])


def _torch_optimizer(torch, params, spec):
    lr = spec.lr if spec.lr is not None else (0.01 if spec.optimizer == "sgd" else 0.001)
    momentum = spec.momentum or 0.0
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, eps=1e-7)
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, momentum=momentum)


def _torch_runner(x, y, spec):
    """epoch(batch_size, n) for PyTorch: index loop, CrossEntropyLoss on logits."""
    import torch
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed or 0)
    dtype = torch.float32 if spec.dtype == "float32" else torch.float64
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(batch_size, n):
        net = _torch_network(torch, spec, dtype)
        optimizer = _torch_optimizer(torch, net.parameters(), spec)
        start = time.perf_counter()
        order = torch.randperm(n)
        for first in range(0, n, batch_size):
            rows = order[first:first + batch_size]
            optimizer.zero_grad()
            loss_fn(net(inputs[rows]), labels[rows]).backward()
            optimizer.step()
        return time.perf_counter() - start

    return epoch


SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic",
                       "linear": "identity"}


def _sklearn_unsupported(spec):
    if spec.optimizer not in ("sgd", "adam"):
        return f"MLPClassifier has no {spec.optimizer} solver"
    if spec.activation not in SKLEARN_ACTIVATIONS:
        return f"MLPClassifier has no {spec.activation} activation"
    return None


def _sklearn_classifier(spec, batch_size):
    from sklearn.neural_network import MLPClassifier
    lr = spec.lr if spec.lr is not None else (0.01 if spec.optimizer == "sgd" else 0.001)
    return MLPClassifier(hidden_layer_sizes=spec.hidden,
                         activation=SKLEARN_ACTIVATIONS[spec.activation],
                         solver=spec.optimizer, alpha=0.0, batch_size=batch_size,
                         learning_rate_init=lr, momentum=spec.momentum or 0.0,
                         nesterovs_momentum=False, epsilon=1e-7, shuffle=True,
                         random_state=spec.seed)


def _sklearn_runner(x, y, spec):
    """epoch(batch_size, n) for sklearn MLPClassifier.partial_fit (one epoch per call)."""
    importlib.import_module("sklearn.neural_network")
    classes = np.arange(N_CLASSES)

    def epoch(batch_size, n):
        model = _sklearn_classifier(spec, batch_size)
        model.partial_fit(x[:batch_size], y[:batch_size], classes=classes)  # allocates
        for target, source in zip(model.coefs_ + model.intercepts_,
                                  spec.weights[0::2] + spec.weights[1::2]):
            target[...] = source
        return _timed(model.partial_fit, x[:n], y[:n])

    return epoch


def _peer_runner(framework):
    """The runner of a ``fastnn.peers`` framework ("jax" or "keras").

    One peer holds the data; each epoch starts again from the initial weights with a
    fresh optimizer state, and compiling for the epoch's shapes (batch size, samples)
    happens before the timer starts.
    """
    def runner(x, y, spec):
        from . import peers
        peer = peers.make_peer(framework, spec.weights, x, y, optimizer=spec.optimizer,
                               learning_rate=spec.lr, momentum=spec.momentum,
                               activation=spec.activation, seed=spec.seed)

        def epoch(batch_size, n):
            peer.set_weights(spec.weights)
            peer.prepare(batch_size, n)
            return _timed(peer.epoch, batch_size, n)

        return epoch

    return runner


RUNNERS = {"fastnn": _fastnn_runner, "numpy": _reference_runner, "torch": _torch_runner,
           "sklearn": _sklearn_runner, "jax": _peer_runner("jax"),
           "keras": _peer_runner("keras")}
MODULES = {"torch": "torch", "sklearn": "sklearn", "jax": "jax", "keras": "keras"}


def _frameworks(text):
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FRAMEWORKS]
    if unknown or not names:
        raise UsageError(f"--frameworks: unknown {', '.join(map(repr, unknown)) or 'empty list'}"
                         f"; expected a comma-separated subset of {','.join(FRAMEWORKS)}")
    return ["fastnn"] + [name for name in FRAMEWORKS[1:] if name in names]


def _runners(x, y, spec, names):
    """({name: epoch function}, [notes about skipped frameworks])."""
    runners, notes = {}, []
    for name in names:
        reason = _sklearn_unsupported(spec) if name == "sklearn" else None
        if name in MODULES and importlib.util.find_spec(MODULES[name]) is None:
            reason = f"not installed ({MODULES[name]} is not importable)"
        if reason is None:
            try:
                runners[name] = RUNNERS[name](x, y, spec)
            except ImportError as error:
                reason = f"import failed: {error}"
        if reason is not None:
            notes.append(f"{LABELS[name]}: skipped, {reason}")
        elif name in ("jax", "keras"):
            notes.append(f"{LABELS[name]}: {_peer_note(name, spec)}")
    return runners, notes


def _peer_note(name, spec):
    from . import peers
    note = peers.describe(name)
    if spec.threads is not None:
        note += "; --threads limits BLAS and Numba, not this framework's own threads"
    return note


def _bench_spec(args):
    model = build_model(args.hidden, args.activation, args.dtype, args.seed)
    model.build()
    make_optimizer(args.optimizer, args.lr, args.momentum)  # reject bad values up front
    return SimpleNamespace(hidden=args.hidden, activation=args.activation, dtype=args.dtype,
                           seed=args.seed, optimizer=args.optimizer, lr=args.lr,
                           momentum=args.momentum, threads=args.threads,
                           weights=model.get_weights())


def run_bench(args):
    """``fastnn bench``: the epoch-time table. Returns 0."""
    if args.models is not None:
        return run_bench_models(args)
    names = _frameworks(args.frameworks)
    spec = _bench_spec(args)
    (x, y), _ = load_arrays(args, synthetic_samples=60000)
    n = x.shape[0]
    if max(args.batch_size) > n:
        raise UsageError(f"--batch-size {max(args.batch_size)} exceeds the {n} samples")
    _print_bench_header(args, spec, n)
    with thread_limit(args.threads):
        runners, notes = _runners(x, y, spec, names)
        rows = _bench_rows(runners, args.batch_size, n, args.repeats)
    print(format_table(rows))
    for note in notes:
        print("note: " + note)
    return 0


def run_bench_models(args):
    """``fastnn bench --models K``: many models at once (``fastnn.many_bench``)."""
    import numba

    from . import many_bench

    if args.optimizer not in ("sgd", "adam"):
        raise UsageError(f"--models times sgd or adam, not {args.optimizer}")
    data = None
    if args.problem == "seed":
        (x, y), _ = load_arrays(args, synthetic_samples=60000)
        data = (x, y)
    n = many_bench.PROBLEMS[args.problem]["n"] if data is None else data[0].shape[0]
    if max(args.batch_size) > n:
        raise UsageError(f"--batch-size {max(args.batch_size)} exceeds the {n} samples")
    with thread_limit(args.threads):
        threads = numba.get_num_threads()
        print(f"fastnn bench --models {args.models}: {args.problem} problem, {args.optimizer}, "
              f"{args.dtype}, {threads} thread(s), {args.repeats} timed epochs per runner"
              + ("" if many_bench.jax_available() else "; JAX not installed: no vmap row"))
        rows = many_bench.bench(args.problem, args.models, args.batch_size, args.optimizer,
                                args.repeats, data=data, dtype=args.dtype, threads=threads)
    print(many_bench.format_rows(args.problem, args.models, rows))
    return 0


# Pause before each timed epoch, so that the previous framework's idle worker threads
# (OpenMP's spin for up to 200 ms after a parallel region) no longer hold a core.
SETTLE_SECONDS = 0.3


def _bench_rows(runners, batch_sizes, n, repeats, settle=SETTLE_SECONDS):
    """Table rows (label, batch, median s, min s, ratio to fastnn), batch-major.

    At each batch size every framework is warmed up on a few batches, then the timed
    epochs run in rounds, one epoch of each framework per round, each round starting
    one framework later: a shared machine's load drifts over the seconds that one
    framework's repeats take, and timing the frameworks in turn spreads that drift
    over all of them. The ratio is the median over rounds of the framework's epoch
    time over fastnn's in the same round.
    """
    names = list(runners)
    rows = []
    for batch_size in batch_sizes:
        for epoch in runners.values():
            epoch(batch_size, min(n, 4 * batch_size))
        times = {name: [] for name in names}
        for turn in range(repeats):
            start = turn % len(names)
            for name in names[start:] + names[:start]:
                time.sleep(settle)
                times[name].append(runners[name](batch_size, n))
        for name in names:
            ratio = statistics.median(t / f for t, f in zip(times[name], times["fastnn"]))
            rows.append((LABELS[name], batch_size, statistics.median(times[name]),
                         min(times[name]), ratio))
            print(f"  {LABELS[name]:<16} batch {batch_size:>5}: "
                  f"{rows[-1][2]:.4f} s/epoch", file=sys.stderr, flush=True)
    return rows


def format_table(rows):
    """The bench table: framework, batch, s/epoch median and min, ratio to fastnn.

    Parameters
    ----------
    rows : list of (str, int, float, float, float)

    Returns
    -------
    str
    """
    header = (f"{'framework':<16} {'batch':>6} {'s/epoch median':>15} {'s/epoch min':>12} "
              f"{'x fastnn':>9}")
    lines = [header, "-" * len(header)]
    for name, batch, median, best, ratio in rows:
        lines.append(f"{name:<16} {batch:>6} {median:>15.4f} {best:>12.4f} {ratio:>8.2f}x")
    return "\n".join(lines)


def _print_bench_header(args, spec, n):
    optimizer = make_optimizer(spec.optimizer, spec.lr, spec.momentum)
    threads = args.threads if args.threads is not None else "all"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"fastnn bench: one training epoch of {_architecture(spec.hidden, spec.activation)}")
    print(f"data: {_data_title(args)}, {n:,} samples, {spec.dtype}; optimizer: "
          f"{_optimizer_text(optimizer)}; {_plural(args.repeats, 'timed round')} after a warm-up; "
          f"threads: {threads}")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} at start (timings are "
          "noisy when it exceeds the core count)")
    sys.stdout.flush()


# -------------------------------------------------------------------------- info
def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _blas_lines():
    pools = threadpool_info()
    if not pools:
        return ["  (none loaded)"]
    return [f"  {p['user_api']}: {p['internal_api']} {p.get('version') or ''} "
            f"({p.get('architecture') or 'unknown arch'}, {p['num_threads']} threads, "
            f"{p.get('threading_layer') or 'unknown'} threading) {p['filepath']}"
            for p in pools]


def _cuda_line():
    from . import _cuda
    if not _cuda.is_available():
        return "CUDA: not available (no numba.cuda GPU; NUMBA_ENABLE_CUDASIM=1 runs the simulator)"
    if _cuda.simulator_enabled():
        return "CUDA: simulator (NUMBA_ENABLE_CUDASIM=1)"
    device = _cuda.cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    return f"CUDA: available, {name}"


def run_info(args):
    """``fastnn info``: versions, BLAS, threads, CUDA. Returns 0."""
    import numba
    print(f"fastnn {__version__} (python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()})")
    for name in ("numpy", "numba", "scipy", "mkl", "threadpoolctl", "tqdm", "torch",
                 "scikit-learn", "jax", "keras"):
        print(f"  {name:<14}{_version(name)}")
    print(f"kernels' BLAS: {blas.PROVIDER} (FASTNN_BLAS="
          f"{os.environ.get('FASTNN_BLAS', 'auto')}; CPU {blas.cpu_vendor() or 'unknown'}; "
          "auto picks MKL on Intel CPUs only)")
    print("BLAS and OpenMP libraries (threadpoolctl):")
    print("\n".join(_blas_lines()))
    print(f"threads: {os.cpu_count()} CPU cores; Numba {numba.get_num_threads()} of "
          f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS} "
          f"(threading layer: {numba.config.THREADING_LAYER})")
    print(_cuda_line())
    return 0


# -------------------------------------------------------------------------- main
def main(argv=None):
    """Run the ``fastnn`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on a usage or data error (a message on stderr, no traceback),
        130 when interrupted.

    Examples
    --------
    >>> from fastnn.cli import main
    >>> main(["info"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    try:
        return args.func(args)
    except USER_ERRORS as error:
        print(f"fastnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
