"""The ``fastnn`` command: train the seed network, benchmark it, describe the setup.

::

    fastnn train   train 784-64-64-10 (relu, softmax, adam) on Fashion-MNIST or MNIST
    fastnn bench   time one epoch of fastnn beside the NumPy reference, PyTorch, sklearn,
                   JAX and Keras 3
    fastnn info    versions, BLAS libraries, thread counts, CUDA availability

``python -m fastnn`` runs the same command. :func:`main` takes an argument list and
returns the exit status, so tests and other programs can call it directly.

This module holds the parser and :func:`main`; each command lives in its own module
(:mod:`fastnn.cli.train`, :mod:`fastnn.cli.bench`, :mod:`fastnn.cli.info`), what train
and bench share in :mod:`fastnn.cli.common`, and the data they load in
:mod:`fastnn.datasets.arrays`.
"""
import argparse
import sys

from .. import __version__
from ..datasets.arrays import LOADERS, synthetic_data
from ..optimizers import OPTIMIZERS
from ..registries import ACTIVATIONS
from .bench import FRAMEWORKS, format_table, run_bench
from .common import UsageError
from .info import run_info
from .train import run_train

# Exceptions that mean "the request cannot be done", reported as one message, exit 2.
# FloatingPointError: fit's divergence report; OSError: missing data, unwritable --save.
# MemoryError too: a network too large for the machine ("--hidden 100000000") is the
# user's to fix, and NumPy's message says how much it asked for.
USER_ERRORS = (ValueError, OSError, RuntimeError, FloatingPointError, MemoryError)
__all__ = ["USER_ERRORS", "UsageError", "build_parser", "format_table", "int_list", "main",
           "positive_int", "synthetic_data"]


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
JAX runs each epoch's full batches in one jitted lax.scan (fastnn_peers.jax);
Keras 3 runs one model.fit per epoch, on the JAX backend when jax is installed
(KERAS_BACKEND, if set, wins); both are compiled for the epoch's shapes before the
timer starts. The peers are the fastnn-peers package in fastnn's repository:
pip install -e ./peers from a checkout, and pip install -e "./peers[all]" for
torch, scikit-learn, jax and keras. Without it, only fastnn is timed.
"""


def _add_data_options(parser, samples_help):
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=sorted(LOADERS), default="fashion_mnist",
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

