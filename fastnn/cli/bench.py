"""``fastnn bench``: one training epoch of fastnn timed beside its peers.

The peers (the NumPy reference, PyTorch, scikit-learn, JAX, Keras 3) are the
fastnn-peers distribution, ``fastnn_peers``, kept outside this package so that fastnn
never imports the frameworks it is compared with. Without it the command still times
fastnn, and says how to get the comparisons.
"""
import importlib.util
import os
import statistics
import sys
import time
from types import SimpleNamespace

from .common import (LOSS, UsageError, architecture, build_model, data_title, load_data,
                     make_optimizer, optimizer_text, plural, thread_limit)

FRAMEWORKS = ("fastnn", "numpy", "torch", "sklearn", "jax", "keras")
LABELS = {"fastnn": "fastnn", "numpy": "numpy reference", "torch": "pytorch",
          "sklearn": "scikit-learn", "jax": "jax", "keras": "keras"}
# framework -> its peer in fastnn_peers, and the library that peer needs.
PEER_NAMES = {"numpy": "reference", "torch": "torch", "sklearn": "sklearn", "jax": "jax",
              "keras": "keras"}
MODULES = {"torch": "torch", "sklearn": "sklearn", "jax": "jax", "keras": "keras"}
HOW_TO_GET_PEERS = ("the benchmark peers are the fastnn-peers package in fastnn's source "
                    "repository: from a checkout, pip install -e ./peers, then the "
                    "libraries to compare with (pip install -e \"./peers[all]\" adds torch, "
                    "scikit-learn, jax and keras)")


def import_peers():
    """The ``fastnn_peers`` package, or None where it is not installed."""
    try:
        import fastnn_peers
    except ImportError:
        return None
    return fastnn_peers


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


def _peer_runner(peers, framework, x, y, spec):
    """epoch(batch_size, n) of a ``fastnn_peers`` peer.

    One peer holds the data; each epoch starts again from the initial weights with a
    fresh optimizer state, and compiling for the epoch's shapes (batch size, samples)
    happens before the timer starts.
    """
    options = {}
    if framework == "torch" and spec.threads is not None:
        options["threads"] = spec.threads          # torch.set_num_threads
    peer = peers.make_peer(PEER_NAMES[framework], spec.weights, x, y,
                           optimizer=spec.optimizer, learning_rate=spec.lr,
                           momentum=spec.momentum, activation=spec.activation, seed=spec.seed,
                           **options)

    def epoch(batch_size, n):
        peer.set_weights(spec.weights)
        peer.prepare(batch_size, n)
        return _timed(peer.epoch, batch_size, n)

    return epoch


def _frameworks(text):
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FRAMEWORKS]
    if unknown or not names:
        raise UsageError(f"--frameworks: unknown {', '.join(map(repr, unknown)) or 'empty list'}"
                         f"; expected a comma-separated subset of {','.join(FRAMEWORKS)}")
    return ["fastnn"] + [name for name in FRAMEWORKS[1:] if name in names]


def _runners(x, y, spec, names):
    """({name: epoch function}, [notes about skipped frameworks])."""
    runners, notes = {"fastnn": _fastnn_runner(x, y, spec)}, []
    wanted = [name for name in names if name != "fastnn"]
    peers = import_peers() if wanted else None
    if wanted and peers is None:
        return runners, [f"{', '.join(LABELS[name] for name in wanted)}: skipped, "
                         f"{HOW_TO_GET_PEERS}"]
    for name in wanted:
        reason = peers.unsupported(PEER_NAMES[name], spec.optimizer, spec.activation)
        if name in MODULES and importlib.util.find_spec(MODULES[name]) is None:
            reason = f"not installed ({MODULES[name]} is not importable)"
        if reason is None:
            try:
                runners[name] = _peer_runner(peers, name, x, y, spec)
            except ImportError as error:
                reason = f"import failed: {error}"
        if reason is not None:
            notes.append(f"{LABELS[name]}: skipped, {reason}")
        elif name in ("jax", "keras"):
            notes.append(f"{LABELS[name]}: {_peer_note(peers, name, spec)}")
    return runners, notes


def _peer_note(peers, name, spec):
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
    (x, y), _ = load_data(args, synthetic_samples=60000)
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


def _vmap_note(many_bench):
    """What the --models header says when the JAX vmap row cannot run."""
    if import_peers() is None:
        return "; no JAX vmap row: " + HOW_TO_GET_PEERS
    return "" if many_bench.jax_available() else "; JAX not installed: no vmap row"


def run_bench_models(args):
    """``fastnn bench --models K``: many models at once (``fastnn.many_bench``)."""
    import numba

    from .. import many_bench

    if args.optimizer not in ("sgd", "adam"):
        raise UsageError(f"--models times sgd or adam, not {args.optimizer}")
    data = None
    if args.problem == "seed":
        (x, y), _ = load_data(args, synthetic_samples=60000)
        data = (x, y)
    n = many_bench.PROBLEMS[args.problem]["n"] if data is None else data[0].shape[0]
    if max(args.batch_size) > n:
        raise UsageError(f"--batch-size {max(args.batch_size)} exceeds the {n} samples")
    with thread_limit(args.threads):
        threads = numba.get_num_threads()
        print(f"fastnn bench --models {args.models}: {args.problem} problem, {args.optimizer}, "
              f"{args.dtype}, {threads} thread(s), {args.repeats} timed epochs per runner"
              + _vmap_note(many_bench))
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
    print(f"fastnn bench: one training epoch of {architecture(spec.hidden, spec.activation)}")
    print(f"data: {data_title(args)}, {n:,} samples, {spec.dtype}; optimizer: "
          f"{optimizer_text(optimizer)}; {plural(args.repeats, 'timed round')} after a warm-up; "
          f"threads: {threads}")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} at start (timings are "
          "noisy when it exceeds the core count)")
    sys.stdout.flush()
