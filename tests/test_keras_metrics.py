"""Keras 3's rules for compiled metrics: their names in the logs, which accuracy, which
weights, and the validation split, with golden values computed by hand from Keras's
definitions and, where Keras is installed, checked against it live (JAX backend)."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential
from fastnn.callbacks import EarlyStopping, ReduceLROnPlateau
from fastnn.optimizers import SGD

# Three sigmoid outputs on one input; the outputs on X are
# [[.8808, .6225, .2689], [.9526, .1824, .8808], [.7311, .9241, .0180]].
W = [np.array([[1.0, -2.0, 3.0]]), np.array([2.0, 0.5, -1.0])]
X = np.array([[0.0], [1.0], [-1.0]])
Y = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
SW = np.array([1.0, 3.0, 0.5])


def sigmoid_model(dtype="float64", **compile_args):
    model = Sequential([Dense(3, activation="sigmoid", input_dim=1)], dtype=dtype, seed=0)
    model.set_weights(W)
    model.compile(**{"optimizer": SGD(0.1), "loss": "binary_crossentropy", **compile_args})
    return model


def by_hand(weights=None):
    """Keras's metrics of the sigmoid model on (X, Y) by hand: the accuracy is the
    categorical one (three outputs, dense targets), each metric a plain or a weighted
    mean over samples."""
    p = 1 / (1 + np.exp(-(X @ W[0] + W[1])))
    correct = (p.argmax(1) == Y.argmax(1)).astype(float)
    squared = ((p - Y) ** 2).mean(1)
    absolute = np.abs(p - Y).mean(1)
    w = np.ones(3) if weights is None else weights
    mean = (lambda v: (w * v).sum() / w.sum())
    q = np.clip(p, 1e-7, 1 - 1e-7)
    loss = (w * -(Y * np.log(q) + (1 - Y) * np.log(1 - q)).mean(1)).sum() / 3
    return {"loss": loss, "correct": correct, "squared": squared, "absolute": absolute,
            "mean": mean}


def keras_or_skip():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def test_metric_names_are_logged_as_given():
    model = sigmoid_model(metrics=["acc", "mean_squared_error", "mean_absolute_error"])
    logs = model.evaluate(X, Y)
    assert list(logs) == ["loss", "acc", "mean_squared_error", "mean_absolute_error"]
    hand = by_hand()
    assert logs["acc"] == 1.0
    assert logs["mean_squared_error"] == pytest.approx(hand["squared"].mean(), rel=1e-12)
    assert logs["mean_absolute_error"] == pytest.approx(hand["absolute"].mean(), rel=1e-12)
    history = sigmoid_model(metrics=["acc"]).fit(
        X, Y, epochs=3, verbose=0, callbacks=[EarlyStopping(monitor="acc", patience=1)])
    assert len(history.history["acc"]) == 2  # acc stays 1.0: patience 1 stops at epoch 2


def test_repeated_and_weighted_names_follow_keras():
    model = sigmoid_model(metrics=["acc", "mse", "acc"], weighted_metrics=["acc", "mae", "mae"])
    logs = model.evaluate(X, Y)
    assert list(logs) == ["loss", "acc", "mse", "acc_1", "weighted_acc", "mae",
                          "weighted_mae"]


def test_metrics_are_unweighted_and_weighted_metrics_weighted():
    model = sigmoid_model(metrics=["mse", "mae"], weighted_metrics=["mse", "mae"])
    logs = model.evaluate(X, Y, sample_weight=SW)
    hand = by_hand(SW)
    assert logs["loss"] == pytest.approx(hand["loss"], rel=1e-12)
    assert logs["loss"] == pytest.approx(1.6389113664627075, rel=1e-6)  # Keras 3.15.1
    assert logs["mse"] == pytest.approx(hand["squared"].mean(), rel=1e-12)
    assert logs["mae"] == pytest.approx(hand["absolute"].mean(), rel=1e-12)
    assert logs["weighted_mse"] == pytest.approx(hand["mean"](hand["squared"]), rel=1e-12)
    assert logs["weighted_mae"] == pytest.approx(hand["mean"](hand["absolute"]), rel=1e-12)
    # Keras 3.15.1's own numbers for this evaluation (float32).
    assert logs["weighted_mae"] == pytest.approx(0.5275973677635193, rel=1e-6)
    assert logs["mse"] == pytest.approx(0.3247908055782318, rel=1e-6)


def test_weighted_accuracy_by_class_weight_in_fit():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 1, 1, 1])
    model = Sequential([Dense(2, activation="softmax", input_dim=1)], dtype="float64", seed=0)
    model.set_weights([np.array([[0.0, 1.0]]), np.array([0.0, -1.5])])
    # outputs favour class 1 from x = 2 on: predictions 0, 0, 1, 1 -> rows 0, 2, 3 right
    model.compile(optimizer=SGD(0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0, class_weight={0: 1.0, 1: 3.0})
    assert history.history["accuracy"] == [0.75]
    assert history.history["weighted_accuracy"] == [pytest.approx((1 + 3 + 3) / (1 + 3 + 3 + 3))]


def test_accuracy_is_picked_from_the_shapes():
    # Three outputs, dense targets: categorical accuracy (argmax), whatever the loss.
    model = sigmoid_model(metrics=["accuracy"])
    model.set_weights([np.array([[0.0, 0.0, 0.0]]), np.array([2.0, 0.5, -1.5])])
    # every row predicts [.88, .62, .18]: argmax 0; thresholds 1, 1, 0
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    logs = model.evaluate(np.zeros((2, 1)), y)
    assert logs["accuracy"] == 0.5  # per-output thresholds would give (1/3 + 0) / 2
    # One output: binary accuracy, whatever the loss.
    mse = Sequential([Dense(1, input_dim=1)], dtype="float64", seed=0)
    mse.set_weights([np.array([[1.0]]), np.array([0.0])])
    mse.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    logs = mse.evaluate(np.array([[0.2], [0.7], [0.9]]), np.array([0.0, 0.0, 1.0]))
    assert logs["accuracy"] == pytest.approx(2 / 3)


def test_reduce_lr_on_plateau_logs_the_learning_rate():
    model = sigmoid_model()
    callback = ReduceLROnPlateau(monitor="loss", mode="max", patience=1, factor=0.5)
    history = model.fit(X, Y, epochs=3, batch_size=2, shuffle=False, verbose=0,
                        callbacks=[callback])
    # the loss falls, so "max" sees no improvement from epoch 2 on: the rate halves
    # after epoch 2 is logged (Keras logs the epoch's own rate)
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05]
    assert model.optimizer.learning_rate == 0.025


def test_sample_and_class_weight_together_are_refused():
    model = sigmoid_model()
    with pytest.raises(ValueError, match=r"^fit: you cannot pass class_weight and "
                                         r"sample_weight at the same time"):
        model.fit(X, Y, verbose=0, sample_weight=SW, class_weight={0: 2.0})
    with pytest.raises(ValueError, match=r"^fit_many: you cannot pass class_weight and "
                                         r"sample_weight at the same time"):
        fastnn.fit_many([sigmoid_model()], X, Y, verbose=0, sample_weight=SW,
                        class_weight={0: 2.0})


@pytest.mark.parametrize("n, split, train", [(10, 0.25, 7), (2048, 0.2, 1638), (3, 0.5, 1),
                                             (100, 0.1, 90)])
def test_validation_split_keeps_floor_of_the_rest(n, split, train):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal(n)
    model = Sequential([Dense(1, input_dim=2)], dtype="float64", seed=0)
    model.compile(optimizer=SGD(0.0), loss="mse")
    history = model.fit(x, y, epochs=1, verbose=0, batch_size=n, validation_split=split)
    assert history.history["val_loss"][0] == model.evaluate(x[train:], y[train:])["loss"]
    assert history.history["loss"][0] == pytest.approx(
        model.evaluate(x[:train], y[:train])["loss"], rel=1e-12)
    many = Sequential([Dense(1, input_dim=2)], dtype="float64", seed=0)
    many.compile(optimizer=SGD(0.0), loss="mse")
    [theirs] = fastnn.fit_many([many], x, y, epochs=1, verbose=0, batch_size=n,
                               validation_split=split)
    assert theirs.history["val_loss"] == history.history["val_loss"]


def test_validation_split_rows_carry_no_class_weight():
    x = np.linspace(-1, 1, 20).reshape(-1, 1)
    y = (x[:, 0] > 0).astype(float)
    model = Sequential([Dense(1, activation="sigmoid", input_dim=1)], dtype="float64", seed=0)
    model.compile(optimizer=SGD(0.0), loss="binary_crossentropy",
                  weighted_metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, verbose=0, validation_split=0.3,
                        class_weight={0: 5.0, 1: 0.5})
    plain = model.evaluate(x[14:], y[14:])
    assert history.history["val_loss"] == [plain["loss"]]
    assert history.history["val_accuracy"] == [plain["accuracy"]]
    [group] = fastnn.fit_many([model], x, y, epochs=1, verbose=0, validation_split=0.3,
                              class_weight={0: 5.0, 1: 0.5})
    assert group.history["val_loss"] == [plain["loss"]]


def test_weighted_metrics_survive_save_and_load(tmp_path):
    model = sigmoid_model(metrics=["acc"], weighted_metrics=["mse"])
    model.save(tmp_path / "m.npz")
    loaded = fastnn.load_model(tmp_path / "m.npz")
    assert loaded.metrics == ["acc"] and loaded.weighted_metrics == ["mse"]
    assert loaded.evaluate(X, Y, sample_weight=SW) == model.evaluate(X, Y, sample_weight=SW)


def test_live_keras_names_and_values():
    keras = keras_or_skip()
    theirs = keras.Sequential([keras.Input((1,)), keras.layers.Dense(3, activation="sigmoid")])
    theirs.set_weights(W)
    args = dict(loss="binary_crossentropy", metrics=["acc", "mean_squared_error", "acc"],
                weighted_metrics=["acc", "mae"])
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), **args)
    ours = sigmoid_model("float32", **args)
    expected = theirs.evaluate(X, Y, sample_weight=SW, return_dict=True, verbose=0)
    got = ours.evaluate(X, Y, sample_weight=SW)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key
    callback = dict(monitor="loss", mode="max", patience=1, factor=0.5)
    expected = theirs.fit(X, Y, epochs=3, batch_size=2, shuffle=False, verbose=0,
                          sample_weight=SW,
                          callbacks=[keras.callbacks.ReduceLROnPlateau(**callback)]).history
    got = ours.fit(X, Y, epochs=3, batch_size=2, shuffle=False, verbose=0, sample_weight=SW,
                   callbacks=[ReduceLROnPlateau(**callback)]).history
    assert sorted(got) == sorted(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(got[key], values, rtol=2e-5, err_msg=key)
