"""Dropout: Keras's semantics, the NumPy reference, reproducibility and resume."""
import copy

import numba
import numpy as np
import pytest

import fastnn
from fastnn import Dense, Dropout, Sequential, reference
from fastnn.layers import dropout_key

from builders import loss_and_gradients

ARCH = [Dropout(0.1), Dense(12, activation="tanh", input_dim=6), Dropout(0.3),
        Dense(9, activation="relu"), Dropout(0.2, noise_shape=(None, 1)), Dropout(0.25),
        Dense(7, activation="sigmoid"), Dropout(0.4, noise_shape=(1, None)),
        Dense(3, activation="softmax")]


def layers(arch=ARCH):
    """Fresh copies of the layer list (a layer belongs to one model)."""
    return [type(layer).from_config(layer.get_config()) for layer in arch]


def data(n=53, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


def model_of(arch=ARCH, seed=3, dtype="float64", optimizer=None, loss="sparse_categorical_crossentropy"):
    model = Sequential(layers(arch), dtype=dtype, seed=seed)
    model.compile(optimizer=optimizer or fastnn.optimizers.SGD(0.1, momentum=0.9), loss=loss)
    model.build(6)
    return model


def reference_of(model, optimizer="sgd", **hyper):
    ws = model.get_weights()
    weights, biases = ws[0::2], ws[1::2]
    dropouts = [{"block": block, "rate": layer.rate, "noise_shape": layer.noise_shape,
                 "key": dropout_key(model._dropout_seed if layer.seed is None else layer.seed, d)}
                for d, (block, layer) in enumerate(model._dropouts)]
    return reference.ReferenceMLP(weights, biases, [l.activation for l in model.layers],
                                  model.loss, optimizer, dropouts=dropouts, **hyper)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [8, 53])
def test_fit_matches_the_reference(shuffle, batch_size):
    x, y = data()
    model = model_of()
    ref = reference_of(model, learning_rate=0.1, momentum=0.9)
    shuffler = copy.deepcopy(model._rng)
    model.fit(x, y, epochs=3, batch_size=batch_size, shuffle=shuffle, verbose=0)
    for _ in range(3):
        order = shuffler.permutation(len(x)) if shuffle else np.arange(len(x))
        ref.train_epoch(x, y, order, batch_size)
    want = [p for w, b in zip(ref.weights, ref.biases) for p in (w, b)]
    for got, expected in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_fit_many_equals_separate_fits():
    """Each model of a group draws its own masks (its seed, its step): fit_many gives
    every model what its own fit gives, within the group product's rounding."""
    x, y = data(n=64)
    archs = [ARCH, ARCH, [Dense(12, activation="relu", input_dim=6), Dropout(0.5),
                          Dense(3, activation="softmax")]]
    alone = [model_of(arch, seed=s) for s, arch in enumerate(archs)]
    together = [model_of(arch, seed=s) for s, arch in enumerate(archs)]
    alone[1].dropouts[0].rate = together[1].dropouts[0].rate = 0.0  # rate 0 in a group
    for model in alone:
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    fastnn.fit_many(together, x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(alone, together):
        for got, want in zip(b.get_weights(), a.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def dense_only(arch=ARCH):
    return [layer for layer in arch if isinstance(layer, Dense)]


def test_predict_and_evaluate_are_unaffected():
    x, y = data()
    model, plain = model_of(), model_of(dense_only())
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))
    assert model.evaluate(x, y) == plain.evaluate(x, y)


def test_rate_zero_is_no_layer():
    x, y = data()
    zero = [Dropout(0.0) if isinstance(layer, Dropout) else layer for layer in ARCH]
    model, plain = model_of(zero), model_of(dense_only())
    for m in (model, plain):
        m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.params, plain.params)


def mask_scale(a, rate, mode=0, key=7, step=3, row0=0, unit0=0):
    from fastnn.kernels._jit import python_entry
    from fastnn.kernels.dropout import _mask_scale
    python_entry(_mask_scale)(a, rate, mode, np.uint64(key), step, row0, unit0)
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_keras_scaling_and_mean(rate, dtype):
    """Keras: kept values are x / (1 - rate) (ones -> 1.25 at 0.2, 2 at 0.5), the rest
    0; the mean is preserved (to 5 standard errors over 10^6 values)."""
    a = mask_scale(np.ones((1000, 1000), dtype), rate)
    assert set(np.unique(a)) == {0, dtype(1 / (1 - rate))}
    kept = (a != 0).mean()
    error = np.sqrt(rate * (1 - rate) / a.size)
    assert abs(kept - (1 - rate)) < 5 * error
    assert abs(a.mean(dtype=np.float64) - 1) < 5 * error / (1 - rate)


def test_masks_match_the_reference_for_every_noise_shape():
    for mode, noise_shape in enumerate([None, (1, None), (None, 1), (1, 1)]):
        got = mask_scale(np.ones((37, 29)), 0.3, mode, key=11, step=5, row0=4, unit0=3) != 0
        full = reference.dropout_mask(11, 5, 41, 32, 0.3, noise_shape)
        expected = full[4:, 3:] if mode == 0 else np.broadcast_to(
            full[:1 if mode & 1 else None, :1 if mode & 2 else None][-37:, -29:], (37, 29))
        if mode & 1 and not mode & 2:
            expected = np.broadcast_to(full[:1, 3:], (37, 29))
        if mode & 2 and not mode & 1:
            expected = np.broadcast_to(full[4:, :1], (37, 29))
        np.testing.assert_array_equal(got, expected)


def test_noise_shape_drops_whole_rows_or_units():
    rows = mask_scale(np.ones((50, 40)), 0.5, mode=2)
    assert all(len(set(row)) == 1 for row in rows) and len(np.unique(rows)) == 2
    units = mask_scale(np.ones((50, 40)), 0.5, mode=1)
    assert (units == units[0]).all() and len(np.unique(units[0])) == 2


def test_gradients_match_finite_differences():
    """At a fixed step the mask is fixed: dJ/dparams from the kernels against central
    differences of J, with dropout on the inputs and after tanh, sigmoid, linear."""
    from fastnn.kernels import network as kn
    from fastnn.losses import get as get_loss
    arch = [Dropout(0.3), Dense(5, activation="tanh", input_dim=6), Dropout(0.4),
            Dense(4, activation="sigmoid"), Dropout(0.2), Dropout(0.3),
            Dense(4), Dropout(0.5, noise_shape=(None, 1)), Dense(3, activation="softmax")]
    model = model_of(arch, loss="categorical_crossentropy")
    x, labels = data(n=9)
    y = np.eye(3)[labels]
    n = len(x)
    spec = model._dropout_spec()
    acts = np.empty(n * int(model._net[0].sum()))
    deltas, grads = np.empty_like(acts), np.empty_like(model.params)
    data_ = (x, y, np.zeros(0, np.int64), np.ones(n))
    code = model._codes()[0]

    def loss(params):
        total, _ = loss_and_gradients(grads, model._net, params, acts, deltas, data_,
                                         np.arange(n), 0, n, code, n, 0, True, spec, 5)
        return total / n

    loss(model.params)
    analytic = grads.copy()
    numeric = np.empty_like(analytic)
    for i in range(model.params.size):
        step = np.zeros_like(model.params)
        step[i] = 1e-6
        numeric[i] = (loss(model.params + step) - loss(model.params - step)) / 2e-6
    dropped = analytic == 0
    assert dropped.any() and not dropped.all()  # dropout zeroed some inputs' weights
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_the_team_size_changes_no_bit():
    """Two parts per batch run by one thread or two: the same bits, in both splits."""
    x, y = data(n=300)
    for batch_size in (32, 256):  # first layer split by units; by rows
        results = []
        for threads in (1, 2):
            numba.set_num_threads(threads)
            model = model_of()
            model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0)
            results.append(model.params.copy())
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("parts", [1, 3, 4])
def test_any_part_count_draws_the_same_masks(monkeypatch, parts):
    """The mask hashes the row's place in the batch, not the part computing it: any
    part count (and either split) follows the reference, to the rounding of the sums."""
    monkeypatch.setattr(fastnn.engines, "part_count", lambda batch_size: parts)
    x, y = data()
    model = model_of()
    ref = reference_of(model, learning_rate=0.1, momentum=0.9)
    model.fit(x, y, epochs=2, batch_size=24, shuffle=False, verbose=0)
    for _ in range(2):
        ref.train_epoch(x, y, np.arange(len(x)), 24)
    want = [p for w, b in zip(ref.weights, ref.biases) for p in (w, b)]
    for got, expected in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [5, None])
def test_a_saved_model_resumes_bitwise(tmp_path, seed):
    """Fit 4 epochs, or 2, save, load and fit 2 more: the same bits (the masks follow
    the saved step and dropout seed, also for a model seeded from entropy)."""
    x, y = data()
    arch = ARCH[:-1] + [Dropout(0.3, seed=9), ARCH[-1]]
    straight = model_of(arch, seed=seed)
    halves = copy.deepcopy(straight)
    straight.fit(x, y, epochs=4, batch_size=8, verbose=0)
    halves.fit(x, y, epochs=2, batch_size=8, verbose=0)
    halves.save(tmp_path / "half.npz")
    resumed = fastnn.load_model(tmp_path / "half.npz")
    assert [d.get_config() for d in resumed.dropouts] == [d.get_config() for d in
                                                          straight.dropouts]
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(resumed.params, straight.params)


def test_seeds_make_runs_reproducible_and_distinct():
    x, y = data()
    runs = []
    for seed in (1, 1, 2):
        model = Sequential(layers(), dtype="float64", seed=seed)
        model.compile("sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        runs.append(model)
    np.testing.assert_array_equal(runs[0].params, runs[1].params)
    # A layer seed replaces the model's: same initial weights, other masks.
    other = Sequential(layers([Dropout(0.5, seed=4) if isinstance(layer, Dropout) else layer
                               for layer in ARCH]), dtype="float64", seed=1)
    other.compile("sgd", loss="sparse_categorical_crossentropy")
    other.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert not np.array_equal(other.params, runs[0].params)


@pytest.mark.parametrize("make, error, message", [
    (lambda: Dropout(1.0), ValueError, r"^Dropout: rate must be a float in \[0, 1\), got 1\.0"),
    (lambda: Dropout(-0.1), ValueError, r"^Dropout: rate must be a float in \[0, 1\), got -0\.1"),
    (lambda: Dropout("0.5"), TypeError, r"^Dropout: rate must be a float in \[0, 1\), got str"),
    (lambda: Dropout(0.5, noise_shape=(None,)), ValueError,
     r"^Dropout: noise_shape must be None or a 2-tuple \(batch, units\)"),
    (lambda: Dropout(0.5, noise_shape=(32, None)), ValueError,
     r"^Dropout: noise_shape's batch entry must be None .* got 32"),
    (lambda: Dropout(0.5, noise_shape=(None, 0)), ValueError,
     r"^Dropout: noise_shape's units entry must be None or a positive int, got 0"),
    (lambda: Dropout(0.5, seed=-1), ValueError,
     r"^Dropout: seed must be a non-negative int, got -1\."),
    (lambda: Sequential([Dense(3, input_dim=2), Dropout(0.5)]).build(), ValueError,
     r"^Sequential\.build: a Dropout layer is last"),
    (lambda: Sequential([Dense(3, activation="softmax", input_dim=2), Dropout(0.5),
                         Dense(1)]).build(), ValueError,
     r"^Sequential\.build: Dropout after layer 0's softmax is not supported"),
    (lambda: Sequential([Dense(3, input_dim=2), Dropout(0.5, noise_shape=(None, 4)),
                         Dense(1)]).build(), ValueError,
     r"^Sequential\.build: Dropout noise_shape \(None, 4\) does not fit its input of 3 units"),
    (lambda: Sequential([Dense(3, input_dim=2), Dropout(0.5), Dense(1)]).compile(
        "sgd", loss="mse", device="cuda"), ValueError,
     r"^compile: device='cuda' does not run Dropout layers yet"),
])
def test_bad_input_is_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()
