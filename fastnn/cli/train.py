"""``fastnn train``: fit the seed network, evaluate it, report, optionally save."""
import os
import sys
import time

from .. import __version__
from .common import (LOSS, UsageError, architecture, build_model, data_title, load_data,
                     make_optimizer, optimizer_text, plural, thread_limit)


def run_train(args):
    """``fastnn train``: fit, evaluate, report and optionally save. Returns 0."""
    start = time.perf_counter()
    optimizer = make_optimizer(args.optimizer, args.lr, args.momentum)
    if args.save:
        check_save_path(args.save)  # before training, not after every epoch has run
    (x, y), (x_test, y_test) = load_data(args, synthetic_samples=10000)
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
    print(f"fastnn {__version__}: {architecture(args.hidden, args.activation)}, "
          f"{model.count_params():,} parameters, {args.dtype}, device {args.device}")
    print(f"data: {data_title(args)}, {x.shape[0]:,} training / {x_test.shape[0]:,} test "
          f"samples; optimizer: {optimizer_text(model.optimizer)}; batch size "
          f"{args.batch_size}; {plural(args.epochs, 'epoch')}; seed {args.seed}")
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
