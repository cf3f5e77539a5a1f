"""The Keras-shaped API as a user drives it."""
import csv

import numba
import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential, callbacks, initializers, schedules
from fastnn.optimizers import SGD, Adam, RMSprop
from fastnn.regularizers import L2


def blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 4)) * 0.5 + np.eye(3, 4)[labels] * 2
    return x, labels


def classifier(seed=0, dtype="float32", optimizer=None):
    model = Sequential([Dense(16, activation="relu", input_dim=4),
                        Dense(3, activation="softmax")], dtype=dtype, seed=seed)
    model.compile(optimizer=optimizer or Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_fit_evaluate_predict_round_trip():
    x, y = blobs()
    model = classifier()
    history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = model.evaluate(x, y)
    assert set(result) == {"loss", "accuracy"} and result["accuracy"] > 0.9
    probabilities = model.predict(x)
    assert probabilities.shape == (240, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    accuracy = (probabilities.argmax(axis=1) == y).mean()
    assert accuracy == pytest.approx(result["accuracy"])
    assert model.history is history


def test_evaluate_matches_a_hand_computed_loss():
    x, y = blobs(50)
    model = classifier(dtype="float64")
    p = model.predict(x)
    expected = -np.log(np.clip(p[np.arange(50), y], 1e-7, 1 - 1e-7)).mean()
    assert model.evaluate(x, y)["loss"] == pytest.approx(expected, rel=1e-12)


def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y = blobs(100)
    model = classifier(dtype="float64")
    history = model.fit(x, y, epochs=1, batch_size=100, validation_split=0.2, verbose=0)
    # The reported val_ metrics are the evaluation of the last 20 samples after the epoch.
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[80:], y[80:])["loss"])


def test_validation_data_sample_and_class_weights():
    x, y = blobs(120)
    model = classifier(dtype="float64")
    weights = np.where(y == 0, 2.0, 1.0) * np.where(y == 1, 3.0, 1.0)
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x[:30], y[:30]),
                        sample_weight=weights)
    assert len(history.history["val_accuracy"]) == 2
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:30], y[:30]),
                        class_weight={1: 3.0})
    assert len(history.history["val_accuracy"]) == 1
    zero = Sequential([Dense(3, activation="softmax", input_dim=4)], dtype="float64", seed=1)
    zero.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = zero.get_weights()
    zero.fit(x, y, epochs=1, verbose=0, sample_weight=np.zeros(120))
    for a, b in zip(before, zero.get_weights()):
        np.testing.assert_array_equal(a, b)  # all-zero weights leave the model unchanged


def test_metrics_mse_and_mae_on_regression():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    model = Sequential([Dense(1, input_dim=3)], dtype="float64", seed=0)
    model.compile(optimizer=SGD(0.05), loss="mse", metrics=["mae", "mse"])
    history = model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert history.history["mse"][-1] == pytest.approx(history.history["loss"][-1], rel=0.2)
    result = model.evaluate(x, y)
    error = model.predict(x)[:, 0] - y
    assert result["mae"] == pytest.approx(np.abs(error).mean(), rel=1e-10)
    assert result["mse"] == pytest.approx((error ** 2).mean(), rel=1e-10)
    assert result["loss"] < 0.05


def test_binary_and_categorical_accuracy_follow_the_shapes():
    x, y = blobs(90)
    onehot = np.eye(3)[y]
    model = Sequential([Dense(3, activation="softmax", input_dim=4)], seed=0)
    model.compile(optimizer=Adam(0.05), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, onehot, epochs=20, verbose=0)
    assert model.evaluate(x, onehot)["accuracy"] == pytest.approx(
        (model.predict(x).argmax(1) == y).mean())
    binary = Sequential([Dense(1, activation="sigmoid", input_dim=4)], seed=0)
    binary.compile(optimizer=Adam(0.05), loss="binary_crossentropy", metrics=["acc"])
    target = (y == 0).astype(float)
    binary.fit(x, target, epochs=20, verbose=0)
    assert binary.evaluate(x, target)["acc"] == pytest.approx(
        ((binary.predict(x)[:, 0] > 0.5) == target).mean())


def test_get_and_set_weights_use_keras_orientation():
    model = classifier()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 16), (16,), (16, 3), (3,)]
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    hidden = np.maximum(x @ weights[0] + weights[1], 0)
    logits = hidden @ weights[2] + weights[3]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x), expected / expected.sum(1, keepdims=True),
                               rtol=1e-5)
    new = [np.full_like(w, 0.01 * i) for i, w in enumerate(weights)]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    weights[0][...] = 99  # get_weights returns copies
    assert model.get_weights()[0].max() < 99


def test_summary_lists_layers_shapes_and_parameters():
    model = Sequential([Dense(64, activation="relu", input_dim=784), Dense(64, activation="relu"),
                        Dense(10, activation="softmax")])
    lines = []
    text = model.summary(print_fn=lines.append)
    assert lines == [text]
    assert "(None, 64)" in text and "(None, 10)" in text
    assert "50,240" in text and "4,160" in text and "650" in text
    assert "Total params: 55,050" in text
    assert model.count_params() == 55050


def test_add_builds_the_same_model_as_the_list():
    a = Sequential(seed=5)
    a.add(Dense(8, activation="tanh", input_dim=3))
    a.add(Dense(2))
    b = Sequential([Dense(8, activation="tanh", input_dim=3), Dense(2)], seed=5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("name,check", [
    ("zeros", lambda w, fan_in, fan_out: (w == 0).all()),
    ("ones", lambda w, fan_in, fan_out: (w == 1).all()),
    ("glorot_uniform", lambda w, i, o: np.abs(w).max() <= np.sqrt(6 / (i + o))),
    ("he_uniform", lambda w, i, o: np.abs(w).max() <= np.sqrt(6 / i)),
    ("truncated_normal", lambda w, i, o: np.abs(w).max() <= 2 * 0.05),
    ("random_normal", lambda w, i, o: abs(w.std() - 0.05) < 0.005),
    ("glorot_normal",
     lambda w, i, o: abs(w.std() - np.sqrt(2 / (i + o))) < 0.1 * np.sqrt(2 / (i + o))),
    ("he_normal", lambda w, i, o: abs(w.std() - np.sqrt(2 / i)) < 0.1 * np.sqrt(2 / i)),
    ("lecun_normal", lambda w, i, o: abs(w.std() - np.sqrt(1 / i)) < 0.1 * np.sqrt(1 / i)),
])
def test_initializers_by_name(name, check):
    model = Sequential([Dense(300, kernel_initializer=name, input_dim=200)], dtype="float64",
                       seed=0)
    w = model.get_weights()[0]
    assert w.shape == (200, 300)
    assert check(w, 200, 300)


def test_initializer_objects_and_truncation():
    w = initializers.TruncatedNormal(mean=1.0, stddev=2.0)((1000, 50), np.random.default_rng(0))
    assert np.abs(w - 1.0).max() <= 4.0 and abs(w.mean() - 1.0) < 0.05
    model = Sequential([Dense(3, kernel_initializer=initializers.Constant(0.5),
                              bias_initializer="ones", input_dim=2)])
    assert (model.get_weights()[0] == 0.5).all() and (model.get_weights()[1] == 1).all()


def test_l2_regularization_adds_to_the_loss_and_shrinks_weights():
    x, y = blobs(60)
    plain, penalized = classifier(seed=3, dtype="float64"), None
    penalized = Sequential([Dense(16, activation="relu", input_dim=4,
                                  kernel_regularizer=L2(0.1)),
                            Dense(3, activation="softmax", kernel_regularizer="l2")],
                           dtype="float64", seed=3)
    penalized.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy")
    expected_penalty = 0.1 * (penalized.get_weights()[0] ** 2).sum() + 0.01 * (
        penalized.get_weights()[2] ** 2).sum()
    data_loss = plain.evaluate(x, y)["loss"]
    assert penalized.evaluate(x, y)["loss"] == pytest.approx(data_loss + expected_penalty)
    plain.fit(x, y, epochs=10, verbose=0)
    penalized.fit(x, y, epochs=10, verbose=0)
    assert (penalized.get_weights()[0] ** 2).sum() < (plain.get_weights()[0] ** 2).sum()


@pytest.mark.parametrize("schedule,steps,expected", [
    (schedules.ExponentialDecay(0.1, 10, 0.5), [0, 10, 20, 5],
     [0.1, 0.05, 0.025, 0.1 * 0.5 ** 0.5]),
    (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), [9, 10, 19], [0.1, 0.05, 0.05]),
    (schedules.InverseTimeDecay(1.0, 1, 0.5), [0, 1, 2], [1.0, 1 / 1.5, 0.5]),
    (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), [0, 10, 11, 20, 21],
     [1.0, 1.0, 0.5, 0.5, 0.1]),
    (schedules.CosineDecay(1.0, 10, alpha=0.1), [0, 5, 10, 15], [1.0, 0.55, 0.1, 0.1]),
])
def test_schedule_values_per_step(schedule, steps, expected):
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-12)


def test_fit_uses_one_learning_rate_per_step_from_the_schedule():
    """SGD without momentum on sse, one weight: each step's rate is visible in the weight."""
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = Sequential([Dense(1, use_bias=False, kernel_initializer="zeros", input_dim=1)],
                       dtype="float64")
    model.compile(optimizer=SGD(schedule), loss="sse")
    x, y = np.ones((3, 1)), np.zeros((3, 1))
    model.set_weights([np.ones((1, 1))])
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    # w <- w - lr_t * w  for lr_t = 0.1, 0.05, 0.025
    assert model.get_weights()[0][0, 0] == pytest.approx(0.9 * 0.95 * 0.975, rel=1e-14)
    assert model.optimizer.iterations == 3


def test_early_stopping_stops_and_restores_best_weights():
    x, y = blobs()
    model = classifier(optimizer=Adam(0.05))
    seen = []
    recorder = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["val_loss"],
                                                      model.get_weights())))
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=10.0,
                                      restore_best_weights=True)
    history = model.fit(x, y, epochs=50, validation_split=0.2, verbose=0,
                        callbacks=[recorder, stopper])
    # min_delta=10 means no epoch after the first counts as an improvement.
    assert len(history.history["loss"]) == 3 and stopper.stopped_epoch == 2
    for a, b in zip(model.get_weights(), seen[0][2]):
        np.testing.assert_array_equal(a, b)


def test_callback_hooks_fire_in_order():
    events = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs=None: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs=None: events.append(f"begin{epoch}"),
        on_epoch_end=lambda epoch, logs=None: events.append(f"end{epoch}:{sorted(logs)}"),
        on_train_end=lambda logs=None: events.append("train_end"))
    x, y = blobs(40)
    classifier().fit(x, y, epochs=2, verbose=0, callbacks=[hooks])
    assert events == ["train_begin", "begin0", "end0:['accuracy', 'loss']", "begin1",
                      "end1:['accuracy', 'loss']", "train_end"]


def test_reduce_lr_on_plateau_and_scheduler_callbacks():
    x, y = blobs(60)
    model = classifier(optimizer=SGD(0.1))
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                          min_delta=100.0, min_lr=0.02)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[reducer])  # halves after epochs 2, 3
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[reducer])
    assert model.optimizer.learning_rate == pytest.approx(0.02)  # min_lr
    model = classifier(optimizer=SGD(0.1))
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[scheduler])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_model_checkpoint_and_csv_logger(tmp_path):
    x, y = blobs(60)
    model = classifier()
    log = tmp_path / "log.csv"
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.npz"),
                                           monitor="loss")
    best = callbacks.ModelCheckpoint(tmp_path / "best.npz", monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[checkpoint, best, callbacks.CSVLogger(log)])
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.npz")) == [
        "ckpt-01.npz", "ckpt-02.npz", "ckpt-03.npz"]
    restored = fastnn.load_model(tmp_path / "ckpt-03.npz")
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    rows = list(csv.DictReader(open(log)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert float(rows[-1]["loss"]) == pytest.approx(model.history.history["loss"][-1])


def test_terminate_on_nan_stops_without_raising():
    x = np.ones((8, 1)) * 1e3
    model = Sequential([Dense(1, input_dim=1)], dtype="float32", seed=0)
    model.compile(optimizer=SGD(10.0), loss="mse")
    history = model.fit(x, np.ones(8) * 1e3, epochs=20, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) < 20
    assert np.isfinite(model.get_weights()[0]).all()


def test_save_load_and_resume_bitwise(tmp_path):
    x, y = blobs()
    straight = classifier(seed=7, optimizer=Adam(schedules.InverseTimeDecay(0.01, 10, 0.1)))
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0)
    interrupted = classifier(seed=7, optimizer=Adam(schedules.InverseTimeDecay(0.01, 10, 0.1)))
    interrupted.fit(x, y, epochs=2, batch_size=16, verbose=0)
    interrupted.save(tmp_path / "model.npz")
    resumed = fastnn.load_model(tmp_path / "model.npz")
    assert resumed.optimizer.iterations == interrupted.optimizer.iterations
    assert isinstance(resumed.optimizer.learning_rate, schedules.InverseTimeDecay)
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(resumed.params, straight.params)
    np.testing.assert_array_equal(resumed._state, straight._state)


def test_history_plot_draws_each_quantity(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    x, y = blobs(60)
    history = classifier().fit(x, y, epochs=3, validation_split=0.2, verbose=0)
    figure = history.plot()
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["loss", "accuracy"]
    assert [line.get_label() for line in figure.axes[0].lines] == ["loss", "val_loss"]
    figure.savefig(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 1000


def test_progress_bar_and_epoch_lines(capsys):
    x, y = blobs(64)
    classifier().fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2 - loss:" in out and "Epoch 2/2 - loss:" in out and "accuracy" in out
    classifier().fit(x, y, epochs=1, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/1" in err and "64/64" in err and "loss=" in err


def test_serial_and_parallel_kernels_are_bitwise_identical():
    x, y = blobs(200)
    results = []
    threads = numba.get_num_threads()
    try:
        for count in (1, threads):
            numba.set_num_threads(count)
            model = classifier(seed=4, optimizer=SGD(0.05, momentum=0.9))
            model.fit(x, y, epochs=2, batch_size=7, verbose=0)
            results.append(model.params.copy())
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(results[0], results[1])


def test_rmsprop_and_names_pick_keras_defaults():
    model = Sequential([Dense(2, input_dim=2)])
    model.compile(optimizer="rmsprop", loss="mse")
    assert isinstance(model.optimizer, RMSprop) and model.optimizer.learning_rate == 0.001
    model.compile(optimizer="sgd", loss="mse")
    assert model.optimizer.learning_rate == 0.01 and model.optimizer.momentum == 0
    model.compile(optimizer="adam", loss="mse")
    assert model.optimizer.epsilon == 1e-7 and model.optimizer.beta_2 == 0.999


def test_cuda_device_without_a_gpu_says_so():
    from fastnn import _cuda
    if _cuda.is_available():
        pytest.skip("a CUDA GPU or the simulator is available here")
    model = Sequential([Dense(2, input_dim=2)])
    with pytest.raises(RuntimeError, match=r"compile\(device='cuda'\): no CUDA GPU"):
        model.compile(optimizer="sgd", loss="mse", device="cuda")
    assert model.optimizer is None and model.device == "cpu"  # nothing changed


def test_a_model_saved_for_cuda_loads_on_the_cpu(tmp_path, monkeypatch):
    from fastnn import _cuda
    model = classifier()
    model.save(tmp_path / "m.npz")
    config, params, state = fastnn.saving.read_model_file(tmp_path / "m.npz")
    config["compile"]["device"] = "cuda"
    monkeypatch.setattr(fastnn.saving, "read_model_file", lambda path: (config, params, state))
    monkeypatch.setattr(_cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="no CUDA GPU is available here"):
        loaded = fastnn.load_model(tmp_path / "m.npz")
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.params, model.params)


def test_dense_accepts_keras_input_shape():
    assert Dense(64, input_shape=(784,)).input_dim == 784
    with pytest.raises(ValueError, match="input_shape must be a 1-tuple"):
        Dense(64, input_shape=(28, 28))
    with pytest.raises(ValueError, match="disagree"):
        Dense(64, input_dim=10, input_shape=(784,))


def test_huge_batch_size_allocates_only_for_the_data():
    model = Sequential([Dense(10, activation="softmax", input_dim=784)], seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((100, 784)), np.zeros(100)
    model.fit(x, y, batch_size=20_000_000, epochs=1, verbose=0)  # one batch of 100
    acts, _ = model._engine.workspace(model._engine._workspace_key)
    assert acts.size <= 100 * (784 + 10)


def test_set_random_seed_makes_unseeded_models_reproducible(monkeypatch):
    monkeypatch.setitem(fastnn.seeding._global, "sequence", None)  # restored afterwards
    runs = []
    for _ in range(2):
        fastnn.set_random_seed(3)
        first, second = Sequential([Dense(4, input_dim=2)]), Sequential([Dense(4, input_dim=2)])
        runs.append((first.get_weights()[0], second.get_weights()[0]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[0][1])  # each model its own stream
    with pytest.raises(ValueError, match="set_random_seed: seed must be a non-negative int"):
        fastnn.set_random_seed(-1)


def test_recompiling_trains_as_a_fresh_model_would():
    """compile keeps the CPU engine (its workspace and measured team speeds), yet the
    new optimizer starts from zero state: bitwise the run of a freshly built model."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    y = rng.integers(0, 3, 300)

    def model():
        return Sequential([Dense(6, activation="relu", input_dim=8),
                           Dense(3, activation="softmax")], seed=1)

    recompiled = model()
    start = recompiled.get_weights()
    recompiled.compile(optimizer=SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    recompiled.fit(x, y, batch_size=16, epochs=2, verbose=0)
    engine = recompiled._engine
    recompiled.set_weights(start)
    recompiled.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy")
    assert recompiled._engine is engine
    recompiled.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    fresh = model()
    fresh.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy")
    fresh.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(recompiled.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
