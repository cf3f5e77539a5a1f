"""fastnn.fit_many: many models on the model axis equal their own fits."""
import threading
import warnings

import numba
import numpy as np
import pytest

import fastnn
from fastnn import Dense, Sequential, reference
from fastnn.callbacks import Callback, EarlyStopping
from fastnn.optimizers import RMSprop, SGD, Adam
from fastnn.schedules import ExponentialDecay


def data(n=90, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    return x, (np.abs(x[:, :classes]).argmax(axis=1)).astype(np.int64)


OPTIMIZERS = [
    lambda: SGD(0.05, momentum=0.9),
    lambda: SGD(0.02, momentum=0.5, nesterov=True, weight_decay=0.01),
    lambda: Adam(0.01),
    lambda: RMSprop(0.003, momentum=0.3),
    lambda: SGD(ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)),
    lambda: Adam(ExponentialDecay(0.02, decay_steps=2, decay_rate=0.9), weight_decay=0.01),
]


def model(i, dtype="float64", l2=0.0, metrics=("accuracy",)):
    m = Sequential([Dense(10, activation="relu", input_dim=6),
                    Dense(7, activation="tanh", kernel_regularizer=fastnn.regularizers.l2(l2)),
                    Dense(3, activation="softmax")], dtype=dtype, seed=i)
    m.compile(optimizer=OPTIMIZERS[i % len(OPTIMIZERS)](), loss="sparse_categorical_crossentropy",
              metrics=list(metrics))
    return m


def max_relative(a, b):
    """The largest relative difference of two models' weight arrays (in norm)."""
    return max(np.linalg.norm(u - v) / np.linalg.norm(v) for u, v in
               zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
def test_each_model_ends_where_its_own_fit_would(dtype, tolerance):
    """Mixed optimizers, schedules, weight decay and L2: 3 epochs, shuffle=False."""
    x, y = data()
    group = [model(i, dtype, l2=0.01 * (i % 2)) for i in range(7)]
    alone = [model(i, dtype, l2=0.01 * (i % 2)) for i in range(7)]
    histories = fastnn.fit_many(group, x, y, epochs=3, batch_size=16, shuffle=False,
                                verbose=0)
    for i, (mine, theirs) in enumerate(zip(group, alone)):
        expected = theirs.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
        assert max_relative(mine, theirs) < tolerance, i
        np.testing.assert_allclose(histories[i].history["loss"], expected.history["loss"],
                                   rtol=tolerance)
        np.testing.assert_allclose(histories[i].history["accuracy"],
                                   expected.history["accuracy"])
        assert mine.optimizer.iterations == theirs.optimizer.iterations == 18
        assert mine.epochs_completed == 3 and mine.history is histories[i]


def test_group_matches_the_numpy_reference():
    """Independent of fit: one model of a group against fastnn.reference."""
    x, y = data()
    group = [model(i) for i in range(3)]
    for m in group:
        m.build()
    ws = group[0].get_weights()
    ref = reference.ReferenceMLP(ws[0::2], ws[1::2], ["relu", "tanh", "softmax"],
                                 "sparse_categorical_crossentropy", "sgd",
                                 learning_rate=0.05, momentum=0.9)
    fastnn.fit_many(group, x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for _ in range(2):
        ref.train_epoch(x, np.eye(3)[y], np.arange(len(x)), 16)
    expected = [a for pair in zip(ref.weights, ref.biases) for a in pair]
    for mine, theirs in zip(group[0].get_weights(), expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_groups_by_architecture_and_loss():
    """Different widths, losses and dtypes in one call: each group trains on its own."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4))
    y = x[:, :1] - x[:, 1:2]
    models = []
    for i, (width, loss, dtype) in enumerate([(8, "mse", "float64"), (5, "mse", "float64"),
                                              (8, "mse", "float32"), (8, "sse", "float64")]):
        m = Sequential([Dense(width, activation="tanh", input_dim=4), Dense(1)], dtype=dtype,
                       seed=i)
        m.compile(optimizer=SGD(0.01), loss=loss)
        models.append(m)
    copies = [Sequential([Dense(l.units, activation=l.activation, input_dim=4) if j == 0 else
                          Dense(l.units) for j, l in enumerate(m.layers)], dtype=m.dtype.name,
                         seed=i) for i, m in enumerate(models)]
    for c, m in zip(copies, models):
        c.compile(optimizer=SGD(0.01), loss=m.loss)
    fastnn.fit_many(models, x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for c, m in zip(copies, models):
        c.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        assert max_relative(m, c) < (1e-5 if m.dtype == np.float32 else 1e-12)


def test_per_model_sample_weights_equal_weighted_fits():
    x, y = data()
    weights = np.random.default_rng(2).uniform(0, 2, size=(3, len(x)))
    weights *= np.array([1.0, 2.0, 0.5])[y]  # class weights, folded in
    group = [model(i) for i in range(3)]
    fastnn.fit_many(group, x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                    sample_weight=weights)
    for i, mine in enumerate(group):
        theirs = model(i)
        theirs.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                   sample_weight=weights[i])
        assert max_relative(mine, theirs) < 1e-12


def test_class_weights_equal_weighted_fits():
    """Class weights scale every model's column of the group's (samples, models)
    weights."""
    x, y = data()
    class_weight = {0: 2.0, 1: 0.5, 2: 1.5}
    group = [model(i) for i in range(3)]
    histories = fastnn.fit_many(group, x, y, epochs=2, batch_size=16, shuffle=False,
                                verbose=0, class_weight=class_weight)
    for i, mine in enumerate(group):
        theirs = model(i)
        expected = theirs.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                              class_weight=class_weight)
        assert max_relative(mine, theirs) < 1e-12
        np.testing.assert_allclose(histories[i].history["loss"], expected.history["loss"],
                                   rtol=1e-12)


def test_cross_validation_equals_separate_fits():
    """K folds as K models with 0/1 weights, each validated on its held-out rows."""
    x, y = data(n=100)
    train, held_out = fastnn.cross_validation_weights(len(x), 4, seed=0)
    assert sorted(np.concatenate(held_out).tolist()) == list(range(100))
    assert np.all(train.sum(axis=0) == 3)  # every sample trains 3 of the 4 folds
    folds = [model(0) for _ in range(4)]
    histories = fastnn.fit_many(folds, x, y, epochs=2, batch_size=16, verbose=0, seed=5,
                                sample_weight=train,
                                validation_data=[(x[h], y[h]) for h in held_out])
    for k, h in enumerate(held_out):
        alone = model(0)
        alone.build()
        alone._rng = np.random.default_rng(5)  # the same shuffle as the group's
        expected = alone.fit(x, y, epochs=2, batch_size=16, verbose=0, sample_weight=train[k],
                             validation_data=(x[h], y[h]))
        assert max_relative(folds[k], alone) < 1e-12
        np.testing.assert_allclose(histories[k].history["val_loss"],
                                   expected.history["val_loss"], rtol=1e-12)


def test_shuffle_seed_and_default_order():
    """seed=None: the first model's Generator shuffles, as its fit would."""
    x, y = data()
    group, alone = [model(0)], model(0)
    fastnn.fit_many(group, x, y, epochs=2, batch_size=16, verbose=0)
    alone.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert max_relative(group[0], alone) < 1e-12
    a, b = [model(1), model(2)], [model(1), model(2)]
    fastnn.fit_many(a, x, y, epochs=2, verbose=0, seed=3)
    fastnn.fit_many(b, x, y, epochs=2, verbose=0, seed=3)
    for u, v in zip(a, b):
        assert max_relative(u, v) == 0


def test_early_stopping_freezes_one_model_only():
    x, y = data()
    group = [model(i) for i in range(3)]
    frozen = {}

    class StopAtOnce(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    # Model 1 stops after its first epoch; the others train all four.
    callbacks = [[], [StopAtOnce()], []]

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            frozen[epoch] = group[1].get_weights()

    callbacks[0].append(Snapshot())
    histories = fastnn.fit_many(group, x, y, epochs=4, batch_size=16, shuffle=False,
                                verbose=0, callbacks=callbacks)
    assert len(histories[1].history["loss"]) == 1
    assert histories[1].stop_reason == "callback" and histories[1].stopped_epoch == 0
    assert [len(h.history["loss"]) for h in (histories[0], histories[2])] == [4, 4]
    for epoch in (1, 2, 3):
        for a, b in zip(frozen[epoch], frozen[0]):
            np.testing.assert_array_equal(a, b)
    alone = model(2)
    alone.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    assert max_relative(group[2], alone) < 1e-12


def test_one_list_of_callbacks_is_copied_per_model():
    x, y = data()
    group = [model(i) for i in range(2)]
    stopper = EarlyStopping(monitor="loss", patience=1)
    fastnn.fit_many(group, x, y, epochs=2, verbose=0, callbacks=[stopper])
    assert stopper.model is None  # each model got its own copy


def regression(i, lr):
    m = Sequential([Dense(8, activation="tanh", input_dim=6), Dense(1)], dtype="float64",
                   seed=i)
    m.compile(optimizer=SGD(lr, momentum=0.9), loss="mse")
    return m


def test_a_diverging_model_is_rolled_back_and_frozen():
    x, _ = data()
    y = 10 * x[:, :1]
    group = [regression(0, 0.01), regression(1, 1e100), regression(2, 0.02)]
    group[1].build()
    start = group[1].get_weights()
    with pytest.warns(RuntimeWarning, match=r"models\[1\]'s loss became non-finite in epoch 1"):
        histories = fastnn.fit_many(group, x, y, epochs=3, batch_size=16, shuffle=False,
                                    verbose=0)
    assert histories[1].stop_reason == "diverged" and histories[1].stopped_epoch == 0
    assert np.isnan(histories[1].history["loss"][0])
    for a, b in zip(group[1].get_weights(), start):
        np.testing.assert_array_equal(a, b)
    assert group[1].optimizer.iterations == 0
    for i, lr in ((0, 0.01), (2, 0.02)):
        alone = regression(i, lr)
        alone.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
        assert max_relative(group[i], alone) < 1e-12


def test_models_are_ordinary_afterwards(tmp_path):
    x, y = data()
    group = [model(i, "float32") for i in range(2)]
    fastnn.fit_many(group, x, y, epochs=1, verbose=0, validation_split=0.2)
    assert "val_loss" in group[0].history.history
    path = tmp_path / "m.npz"
    group[1].save(path)
    loaded = fastnn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), group[1].predict(x))
    group[0].fit(x, y, epochs=1, verbose=0)


def test_blocks_of_models_do_not_depend_on_the_team(monkeypatch):
    from fastnn import _blocks, _threads
    monkeypatch.setattr(_threads, "max_threads", lambda: 4)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert [len(b) for b in _blocks.model_blocks(64)] == [8] * 8
        assert [len(b) for b in _blocks.model_blocks(20)] == [5, 5, 5, 5]
        assert [len(b) for b in _blocks.model_blocks(36)] == [8, 7, 7, 7, 7]
        assert [len(b) for b in _blocks.model_blocks(6)] == [2, 2, 1, 1]
        assert [len(b) for b in _blocks.model_blocks(1)] == [1]
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("count, piece_batches", [(3, None), (12, None), (20, 1)])
def test_team_sizes_give_the_same_bits(count, piece_batches, monkeypatch):
    """Threads take fixed blocks of models (a few: one or more each; 12: two blocks
    of 6; 20: three blocks, each call cut into one-batch pieces for teams of 2 or
    more): every team size trains the bits of one thread's uncut calls."""
    from fastnn import _blocks
    if piece_batches is not None:
        monkeypatch.setattr(_blocks, "_PIECE_BATCHES", piece_batches)
    x, y = data()
    results = []
    before = numba.get_num_threads()
    try:
        for threads in range(1, min(numba.config.NUMBA_NUM_THREADS, 4) + 1):
            numba.set_num_threads(threads)
            group = [model(i) for i in range(count)]
            fastnn.fit_many(group, x, y, epochs=2, verbose=0, seed=1)
            results.append(group)
    finally:
        numba.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a.params, b.params)
            np.testing.assert_array_equal(a._state, b._state)


def test_piece_queue_runs_each_blocks_pieces_in_order_one_at_a_time():
    from fastnn._blocks import PieceQueue
    queue = PieceQueue(3, 4, 2)
    running = {}  # thread -> block
    handed = []
    thread = 0
    for step in range(40):  # two threads taking turns, finishing what they hold
        item = queue.take(running.pop(thread, None))
        if item is not None:
            piece, block = item
            assert block not in running.values()  # never a block another thread holds
            running[thread] = block
            handed.append(item)
        thread = 1 - thread
    assert sorted(handed) == [(p, b) for p in range(3) for b in range(4)]
    for block in range(4):
        assert [p for p, b in handed if b == block] == [0, 1, 2]
    assert max(p for p, _ in handed[:4]) == 0  # the least advanced blocks first
    assert [b for _, b in handed[:2]] == [0, 2]  # two threads, blocks far apart


@pytest.mark.parametrize("models, kwargs, error, match", [
    ([], {}, ValueError, r"fit_many: models is empty"),
    ("m", {}, TypeError, r"fit_many: models must be a list"),
    ([1], {}, TypeError, r"fit_many: models\[0\] must be a Sequential"),
    (["uncompiled"], {}, ValueError, r"fit_many: models\[1\] is not compiled"),
    (["same"], {}, ValueError, r"fit_many: models\[1\] is the same object as models\[0\]"),
    (["wide"], {}, ValueError, r"fit_many: models\[1\] takes 5 input features, but x has 6"),
    ([], {"sample_weight": np.ones((3, 90))}, ValueError,
     r"fit_many: sample_weight must have shape \(90,\) for every model or \(2, 90\)"),
    ([], {"callbacks": [[], [], []]}, ValueError, r"fit_many: callbacks has 3 lists for 2"),
    ([], {"validation_data": [(np.ones((2, 6)), [0, 1])]}, ValueError,
     r"fit_many: validation_data has 1 tuples for 2 models"),
    ([], {"x": np.ones((90, 6), dtype=object)}, TypeError, r"fit_many"),
])
def test_bad_input_is_refused_before_anything_changes(models, kwargs, error, match):
    x, y = data()
    first = model(0)
    first.build()
    before = first.get_weights()
    if models == []:
        group = [first, model(1)] if match != r"fit_many: models is empty" else []
    elif models == "m":
        group = first
    elif models == [1]:
        group = [1]
    else:
        other = {"uncompiled": Sequential([Dense(3, input_dim=6)]), "same": first,
                 "wide": model(1)}[models[0]]
        if models[0] == "wide":
            other = Sequential([Dense(3, activation="softmax", input_dim=5)])
            other.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        group = [first, other]
    kwargs = dict(kwargs)
    x = kwargs.pop("x", x)
    with pytest.raises(error, match=match):
        fastnn.fit_many(group, x, y, verbose=0, **kwargs)
    for a, b in zip(first.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert first.optimizer.iterations == 0


def test_a_model_training_elsewhere_is_refused():
    x, y = data(n=2000)
    busy, other = model(0), model(1)
    started, release = threading.Event(), threading.Event()

    class Hold(Callback):
        def on_epoch_end(self, epoch, logs=None):
            started.set()
            release.wait(30)

    worker = threading.Thread(target=busy.fit, args=(x, y),
                              kwargs=dict(epochs=1, verbose=0, callbacks=[Hold()]))
    worker.start()
    try:
        assert started.wait(60)
        with pytest.raises(RuntimeError, match=r"fit_many: models\[1\] is already training"):
            fastnn.fit_many([other, busy], x, y, verbose=0)
        with pytest.raises(RuntimeError, match=r"fit: the model is already training"):
            busy.fit(x, y, verbose=0)
    finally:
        release.set()
        worker.join(60)
    assert other.optimizer.iterations == 0
    fastnn.fit_many([other, busy], x[:100], y[:100], verbose=0)  # free again


def test_progress_lines(capsys):
    x, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastnn.fit_many([model(0), model(1)], x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("Epoch 1/2 - 2 training - loss: ")
    assert "accuracy: " in lines[1]


def test_the_cross_validation_example_runs(capsys):
    import runpy
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "fit_many_folds.py"
    runpy.run_path(str(path), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    accuracies = [float(line.split("validation accuracy ")[1].split()[0]) for line in lines]
    assert max(accuracies) > 0.7  # the spirals are learnable at a good rate
