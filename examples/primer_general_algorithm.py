"""The primer's "general algorithm": accumulate weight steps over all records, then
w += learnrate * delta_w / m, repeated for e epochs (one sigmoid output unit).

In fastnn this is full-batch gradient descent on the sse loss: the gradient of
E = 1/2 sum (y - y_hat)^2 over the batch is -delta_w, so SGD with learning rate
learnrate / m applies exactly w += learnrate * delta_w / m.
"""
import numpy as np

from fastnn import Dense, Sequential
from fastnn.optimizers import SGD

rng = np.random.default_rng(42)
n_records, n_features = 100, 6
features = rng.standard_normal((n_records, n_features))
targets = (features @ rng.standard_normal(n_features) > 0).astype(float)
weights0 = rng.normal(scale=n_features ** -0.5, size=n_features)
epochs, learnrate = 100, 0.5


def primer_numpy():
    """The primer's loop, record by record."""
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    weights = weights0.copy()
    for _ in range(epochs):
        del_w = np.zeros(weights.shape)
        for x, y in zip(features, targets):
            output = sigmoid(np.dot(x, weights))
            error = y - output
            error_term = error * output * (1 - output)
            del_w += error_term * x
        weights += learnrate * del_w / n_records
    return weights


def fastnn_weights():
    model = Sequential([Dense(1, activation="sigmoid", use_bias=False, input_dim=n_features)],
                       dtype="float64")
    model.compile(optimizer=SGD(learning_rate=learnrate / n_records), loss="sse",
                  metrics=["accuracy"])
    model.set_weights([weights0.reshape(-1, 1)])
    history = model.fit(features, targets, batch_size=n_records, epochs=epochs, shuffle=False,
                        verbose=0)
    return model.get_weights()[0][:, 0], history.history["accuracy"][-1]


if __name__ == "__main__":
    expected = primer_numpy()
    weights, accuracy = fastnn_weights()
    print("primer (NumPy) weights:", np.round(expected, 8))
    print("fastnn weights:        ", np.round(weights, 8))
    print("max |difference|:", float(np.abs(expected - weights).max()))
    print(f"training accuracy: {accuracy:.3f}")
