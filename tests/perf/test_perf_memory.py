"""Memory stays flat across epochs: every buffer is allocated once per model (and once
per batch size), so epoch 20 holds what epoch 1 held.

Traced memory (tracemalloc, which sees NumPy's allocations) catches Python-side
leaks; resident memory catches allocations made inside compiled code as well.
"""
import gc
import os
import tracemalloc

import numba
import numpy as np
import pytest

from fastnn import Dense, Sequential
from fastnn.callbacks import Callback
from fastnn.optimizers import SGD

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled")]

N_SAMPLES = 2_000
BATCH_SIZE = 128
EPOCHS = 20
WARM_UP_EPOCHS = 3
# Per-epoch growth bounds, as fractions of the model's parameter bytes (2.7 MB here):
# a leaked copy of the weights, the gradients or an optimizer slot per epoch is 1.0.
TRACED_BOUND = 0.01       # History's few floats per epoch are ~0.001% of it
RSS_BOUND = 0.25          # the allocator's own slack stays far below it


def make_model():
    model = Sequential([Dense(512, activation="relu", input_dim=784),
                        Dense(512, activation="relu"),
                        Dense(10, activation="softmax")], dtype="float32", seed=0)
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.random((N_SAMPLES, 784), dtype=np.float32),
            rng.integers(0, 10, N_SAMPLES))


def growth_per_epoch(samples):
    """Bytes per epoch from the first to the last sample."""
    return (samples[-1] - samples[0]) / (len(samples) - 1)


def message(what, samples, model_bytes, bound):
    growth = growth_per_epoch(samples)
    return (f"{what} over {EPOCHS} epochs after {WARM_UP_EPOCHS} warm-up epochs "
            f"(784-512-512-10 float32, {N_SAMPLES} samples, batch {BATCH_SIZE}): grew "
            f"{samples[-1] - samples[0]:,} bytes, {growth:,.0f} bytes per epoch = "
            f"{growth / model_bytes:.3f} of the parameters' {model_bytes:,} bytes; bound "
            f"{bound} of them. Samples (KiB): {[s // 1024 for s in samples]}")


class TracedMemory(Callback):
    def __init__(self):
        super().__init__()
        self.samples = []

    def on_epoch_end(self, epoch, logs=None):
        gc.collect()
        self.samples.append(tracemalloc.get_traced_memory()[0])


def test_traced_memory_flat_within_one_fit(data):
    x, y = data
    model = make_model()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=WARM_UP_EPOCHS, verbose=0)
    probe = TracedMemory()
    gc.collect()
    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS + 1, verbose=0,
                  callbacks=[probe])
    finally:
        tracemalloc.stop()
    bound = TRACED_BOUND * model.params.nbytes
    assert growth_per_epoch(probe.samples) <= bound, message(
        "traced memory inside one fit(epochs=21)", probe.samples, model.params.nbytes,
        TRACED_BOUND)


def test_traced_memory_flat_across_fit_calls(data):
    x, y = data
    model = make_model()
    for _ in range(WARM_UP_EPOCHS):
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    gc.collect()
    tracemalloc.start()
    samples = []
    try:
        for _ in range(EPOCHS + 1):
            model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
            gc.collect()
            samples.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    bound = TRACED_BOUND * model.params.nbytes
    assert growth_per_epoch(samples) <= bound, message(
        "traced memory across fit(epochs=1) calls", samples, model.params.nbytes,
        TRACED_BOUND)


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_resident_memory_flat_across_epochs(data):
    x, y = data
    model = make_model()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=WARM_UP_EPOCHS, verbose=0)
    samples = []
    for _ in range(EPOCHS + 1):
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        gc.collect()
        samples.append(resident_bytes())
    bound = RSS_BOUND * model.params.nbytes
    assert growth_per_epoch(samples) <= bound, message(
        "resident memory across fit(epochs=1) calls", samples, model.params.nbytes,
        RSS_BOUND)
