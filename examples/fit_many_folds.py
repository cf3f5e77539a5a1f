"""Five-fold cross-validation of a learning-rate sweep, as one fit_many call.

Every (learning rate, fold) pair is a model: 3 rates x 5 folds = 15 models of one
architecture that see the same batches, each trained on its fold's rows (0/1 sample
weights) and validated on its held-out rows. Prints each rate's mean validation
accuracy over the folds.

Run: python examples/fit_many_folds.py
"""
import numpy as np

import fastnn
from fastnn import Dense, Sequential
from fastnn.optimizers import SGD

RATES = [0.003, 0.03, 0.3]
FOLDS = 5


def two_spirals(n, seed=0):
    """Two interleaved spirals in 2-D, labels 0/1: a small non-linear problem."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    sign = np.where(label == 1, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / (3 * np.pi)
    return (x + rng.normal(scale=0.02, size=x.shape)).astype("float32"), label


def main():
    x, y = two_spirals(3000)
    train, held_out = fastnn.cross_validation_weights(len(x), FOLDS, seed=0)
    models, weights, validation = [], [], []
    for rate in RATES:
        for fold in range(FOLDS):
            model = Sequential([Dense(32, activation="tanh", input_dim=2),
                                Dense(32, activation="tanh"),
                                Dense(2, activation="softmax")], seed=fold)
            model.compile(optimizer=SGD(rate, momentum=0.9),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            models.append(model)
            weights.append(train[fold])
            validation.append((x[held_out[fold]], y[held_out[fold]]))
    histories = fastnn.fit_many(models, x, y, epochs=30, batch_size=32, verbose=0, seed=0,
                                sample_weight=np.stack(weights), validation_data=validation)
    for i, rate in enumerate(RATES):
        scores = [h.history["val_accuracy"][-1] for h in histories[i * FOLDS:(i + 1) * FOLDS]]
        print(f"learning rate {rate}: validation accuracy {np.mean(scores):.3f} "
              f"(folds {min(scores):.3f}-{max(scores):.3f})")


if __name__ == "__main__":
    main()
