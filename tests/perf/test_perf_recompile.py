"""One compilation per dtype, optimizer family, loss family, split of layer 0 and use
of metrics trains any network: the architecture is data (sizes, activation codes, one
flat parameter buffer), so a second model of the same dtype, families and split adds
no specialization to any kernel; another optimizer family (Adam after SGD), or
variant (amsgrad, centered RMSprop), adds one epoch kernel, and one step of layer 0
split by units, once (``optimizers.update_paths``); another loss family (mse after a
cross-entropy) one epoch kernel and its batch pass (``losses.kernel_codes``); the
other split an epoch kernel (``network.split_by_units``); and a fit without metrics
compiles the metric sums out (``losses.kernel_codes``).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import fastnn.kernels.network as network
from fastnn import Dense, Sequential
from fastnn.optimizers import SGD, Adam

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled")]

BATCH_SIZE = 32


def compiled_specializations():
    """{name: len(dispatcher.signatures)} of every Numba dispatcher in
    fastnn.kernels.network: the epoch kernel (``train_epoch``, or whatever the engine
    calls now) and everything else the network module compiles."""
    return {name: len(obj.signatures) for name, obj in vars(network).items()
            if isinstance(obj, numba.core.dispatcher.Dispatcher)}


def first_model(x, y, dtype):
    model = Sequential([Dense(64, activation="relu", input_dim=784),
                        Dense(64, activation="relu"),
                        Dense(10, activation="softmax")], dtype=dtype, seed=0)
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)


SECOND_MODELS = {
    # Same loss and optimizer; other depth, widths and hidden activations.
    "deeper_other_widths": (
        lambda: [Dense(17, activation="tanh", input_dim=784),
                 Dense(5, activation="sigmoid"),
                 Dense(33, activation="leaky_relu"),
                 Dense(10, activation="softmax")],
        lambda: SGD(learning_rate=0.01, momentum=0.9),
        "sparse_categorical_crossentropy"),
    # Also another loss of the family, output activation and SGD rule: integer codes.
    "other_loss_and_sgd_rule": (
        lambda: [Dense(8, activation="relu", input_dim=784),
                 Dense(10, activation="sigmoid")],
        lambda: SGD(learning_rate=0.001, momentum=0.5, nesterov=True),
        "categorical_crossentropy"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("second", sorted(SECOND_MODELS))
def test_new_architecture_of_same_dtype_does_not_recompile(second, dtype):
    rng = np.random.default_rng(0)
    x = rng.random((256, 784)).astype(dtype)
    labels = rng.integers(0, 10, 256)
    first_model(x, labels, dtype)
    before = compiled_specializations()
    epoch_kernels = {name: count for name, count in before.items() if name.startswith("train")}
    assert sum(epoch_kernels.values()) >= 1, (
        f"fit compiled no epoch kernel (train*) in fastnn.kernels.network: {before}")

    layers, optimizer, loss = SECOND_MODELS[second]
    model = Sequential(layers(), dtype=dtype, seed=1)
    model.compile(optimizer=optimizer(), loss=loss)
    y = labels if loss == "sparse_categorical_crossentropy" else np.eye(10)[labels]
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    after = compiled_specializations()

    grown = {name: (before.get(name, 0), count) for name, count in after.items()
             if count != before.get(name, 0)}
    assert not grown, (
        f"fit of a second {dtype} model ({second}) compiled new specializations "
        f"(kernel: len(signatures) before -> after): {grown}; epoch kernels before: "
        f"{epoch_kernels}. A kernel argument whose Numba type depends on the "
        "architecture (a tuple of per-layer arrays, a literal, a read-only or "
        "non-contiguous array)?")


def added_specializations(dtype, second_fits):
    """[{name: count}] of the new specializations of each fastnn.kernels.network
    kernel that each of ``second_fits`` ((layers, optimizer, loss), one fit each)
    compiles after ``first_model``'s SGD cross-entropy fit, all of dtype ``dtype``."""
    rng = np.random.default_rng(0)
    x = rng.random((256, 784)).astype(dtype)
    labels = rng.integers(0, 10, 256)
    first_model(x, labels, dtype)
    counts = []
    for layers, optimizer, loss in second_fits:
        before = compiled_specializations()
        model = Sequential(layers, dtype=dtype, seed=1)
        model.compile(optimizer=optimizer, loss=loss)
        y = labels if loss == "sparse_categorical_crossentropy" else np.eye(10)[labels]
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        after = compiled_specializations()
        counts.append({name: after[name] - before.get(name, 0) for name in after
                       if after[name] != before.get(name, 0)})
    return counts


def family_counts(dtype):
    """``added_specializations`` of three Adam fits, the last with amsgrad."""
    loss = "sparse_categorical_crossentropy"
    return added_specializations(dtype, [
        ([Dense(8, activation="relu", input_dim=784), Dense(10, activation="softmax")],
         Adam(learning_rate=0.001), loss),
        ([Dense(32, activation="tanh", input_dim=784), Dense(10, activation="softmax")],
         Adam(learning_rate=0.01), loss),
        ([Dense(16, activation="relu", input_dim=784), Dense(10, activation="softmax")],
         Adam(learning_rate=0.01, amsgrad=True), loss)])


def loss_family_counts(dtype):
    """``added_specializations`` of two fits with elementwise losses, mse then huber."""
    return added_specializations(dtype, [
        ([Dense(16, activation="relu", input_dim=784), Dense(10, activation="linear")],
         SGD(learning_rate=0.01, momentum=0.9), loss) for loss in ("mse", "huber")])


FAMILY_SCRIPT = """
import json, sys
sys.path.insert(0, {folder!r})
from test_perf_recompile import {counts}
print(json.dumps({counts}({dtype!r})))
"""


def counts_in_a_fresh_process(counts, dtype, cache):
    """``counts(dtype)`` run in a fresh process with an empty Numba cache: where the
    first fit's epoch kernel came from the on-disk cache, its callees (linked into
    it) were never compiled in the process, and the second fit would compile them
    for the first time."""
    script = FAMILY_SCRIPT.format(folder=str(Path(__file__).parent), counts=counts,
                                  dtype=dtype)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "NUMBA_CACHE_DIR": str(cache)}, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_another_optimizer_family_compiles_one_epoch_kernel_once(dtype, tmp_path):
    """The first Adam fit after an SGD fit adds its epoch kernel and its step of layer 0
    split by units (both take the family's update paths) and nothing else; the
    second, of the same family, adds nothing; the third, with amsgrad (a variant with
    a path of its own), adds the same two again."""
    counts = counts_in_a_fresh_process("family_counts", dtype, tmp_path)
    step = {"_first_layer_step": 1, "train_epochs": 1}
    assert counts == [step, {}, step], counts


def test_another_loss_family_compiles_one_epoch_kernel_once(tmp_path):
    """The first mse fit after a cross-entropy fit adds its epoch kernel, batch pass and
    output delta (all take the loss's family flags) and nothing else; a huber fit, of
    the same family, adds nothing."""
    counts = counts_in_a_fresh_process("loss_family_counts", "float32", tmp_path)
    counts[0].pop("all_finite")  # the check of the first float targets (labels before)
    assert counts == [{"_output_delta": 1, "_gradients_by_rows": 1, "train_epochs": 1},
                      {}], counts


def test_a_network_split_by_rows_does_not_compile_the_split_by_units():
    """A first layer wider than its input cannot split by units (``split_by_units``):
    its fit passes unit_rows None, and the epoch kernel compiled for None drops the
    split by units' code before typing it; the seed network's fit passes the rows of
    its products."""
    rng = np.random.default_rng(0)
    x = rng.random((256, 8))
    model = Sequential([Dense(32, activation="relu", input_dim=8), Dense(1)], seed=0)
    model.compile(optimizer=SGD(learning_rate=0.01), loss="mse")
    model.fit(x, x[:, :1], batch_size=BATCH_SIZE, epochs=1, verbose=0)
    assert model._engine._call_plan(BATCH_SIZE, BATCH_SIZE, 1)[2] is None
    unit_rows_types = {signature[8] for signature in network.train_epochs.signatures}
    assert numba.types.none in unit_rows_types, unit_rows_types

    first_model(x[:, :1].repeat(784, axis=1), rng.integers(0, 10, 256), "float64")
    unit_rows_types = {signature[8] for signature in network.train_epochs.signatures}
    assert any(isinstance(kind, numba.types.Integer) for kind in unit_rows_types), (
        unit_rows_types)


def test_a_fit_without_metrics_compiles_only_the_counts_of_its_loss():
    """With no metric logged the kernels take accuracy None (``losses.kernel_codes``), so
    the metric sums are pruned before typing; the losses and weights are the same bits
    as those of the same fit logging mse."""
    rng = np.random.default_rng(1)
    x = rng.random((96, 4))
    y = x.sum(axis=1, keepdims=True)

    def fit(metrics):
        model = Sequential([Dense(8, activation="relu", input_dim=4), Dense(1)], seed=0)
        model.compile(optimizer=SGD(learning_rate=0.01), loss="mse", metrics=metrics)
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=2, verbose=0)
        return history.history["loss"], model.evaluate(x, y, verbose=0), model.params

    (history_alone, evaluated_alone, params_alone), (history, evaluated, params) = (
        fit(None), fit(["mse"]))
    assert history_alone == history
    assert evaluated_alone == {"loss": evaluated["loss"]}
    np.testing.assert_array_equal(params_alone, params)
    # The epoch kernel's codes: (loss, accuracy, errors).
    accuracy_types = {signature[9].types[1] for signature in network.train_epochs.signatures}
    assert numba.types.none in accuracy_types, accuracy_types
    assert any(isinstance(kind, numba.types.Integer) for kind in accuracy_types), accuracy_types

