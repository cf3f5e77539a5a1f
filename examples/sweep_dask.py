"""A 64-config sweep (learning rate x L2 x width) on Fashion-MNIST, on a Dask cluster.

Every config is a 784-W-W-10 network trained with SGD + momentum; ``fastnn.sweep``
groups the configs of one width into ``fit_many`` calls and spreads them over the
workers. The best config (by validation accuracy) is evaluated on the test set.

    python examples/sweep_dask.py                      # a LocalCluster: 2 workers
    python examples/sweep_dask.py --scheduler tcp://HOST:8786
    python examples/sweep_dask.py --in-process         # the same sweep, no Dask
    python examples/sweep_dask.py --samples 6000 --epochs 1     # a quick look

On a cluster, start a scheduler and workers first (one thread per worker process;
fastnn gives each task its worker's share of the cores):

    dask scheduler
    dask worker tcp://HOST:8786 --nworkers 4 --nthreads 1

Every worker needs fastnn installed, and this file importable (its ``build`` is
pickled by reference): run it from the same checkout, or copy it to each machine.
"""
import argparse
import time

import numpy as np

import fastnn
from fastnn import Dense, Sequential
from fastnn.datasets import fashion_mnist
from fastnn.optimizers import SGD
from fastnn.regularizers import L2

GRID = {
    "learning_rate": [0.003, 0.01, 0.03, 0.1],
    "l2": [0.0, 1e-5, 1e-4, 1e-3],
    "units": [32, 64, 96, 128],
}


def build(learning_rate, l2, units):
    """One config's compiled model; no seed: sweep seeds it from the config's index."""
    regularizer = L2(l2) if l2 else None
    model = Sequential([
        Dense(units, activation="relu", input_dim=784, kernel_regularizer=regularizer),
        Dense(units, activation="relu", kernel_regularizer=regularizer),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=SGD(learning_rate, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--workers", type=int, default=2,
                        help="LocalCluster worker processes (default 2)")
    parser.add_argument("--in-process", action="store_true", help="run without Dask")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=60000,
                        help="training rows used (default all 60,000)")
    parser.add_argument("--models-per-task", type=int, default=None)
    args = parser.parse_args()

    (x, y), (x_test, y_test) = fashion_mnist.load_data()
    x = x[:args.samples].reshape(-1, 784).astype(np.float32) / 255.0
    y = y[:args.samples]
    x_test = x_test.reshape(-1, 784).astype(np.float32) / 255.0

    settings = dict(epochs=args.epochs, batch_size=32, validation_split=0.1,
                    metric="val_accuracy", models_per_task=args.models_per_task)
    if args.in_process:
        began = time.perf_counter()
        result = fastnn.sweep(build, GRID, x, y, **settings)
        where = "in process"
    else:
        from dask.distributed import Client, LocalCluster

        if args.scheduler:
            client, cluster = Client(args.scheduler), None
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   processes=True)
            client = Client(cluster)
        try:
            client.wait_for_workers(1)
            began = time.perf_counter()
            result = fastnn.sweep(build, GRID, x, y, client=client, **settings)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        where = f"on {args.scheduler or f'a LocalCluster of {args.workers} workers'}"
    seconds = time.perf_counter() - began

    failed = [r for r in result.results if r["error"]]
    print(f"{len(result.results)} configs x {args.epochs} epochs {where}: {seconds:.1f} s "
          f"({len(failed)} failed)")
    print("best config:", result.best_params,
          f"val_accuracy {result.best_score:.4f}")
    test = result.best_model.evaluate(x_test, y_test)
    print(f"test accuracy of the best model: {test['accuracy']:.4f}")


if __name__ == "__main__":
    main()
