"""The "Deep Learning using NumPy" blog's 3-4-1 sigmoid network, beside fastnn.

The blog trains a network without biases, synapses 3x4 and 4x1, full batch for 50
iterations with ``syn += l.T.dot(delta)``. The blog shows its code as an image; the
data and initialisation below are those of that code (the classic 4-sample toy set,
``np.random.seed(1)``, weights uniform in [-1, 1)). fastnn reproduces it with the
"sse" loss (E = 1/2 sum (y - y_hat)^2, whose gradient step with learning rate 1 is
exactly ``syn += l.T.dot(delta)``) and SGD(learning_rate=1.0), one batch of 4.
"""
import numpy as np

from fastnn import Dense, Sequential
from fastnn.optimizers import SGD

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
ITERATIONS = 50


def initial_synapses():
    np.random.seed(1)
    syn0 = 2 * np.random.random((3, 4)) - 1
    syn1 = 2 * np.random.random((4, 1)) - 1
    return syn0, syn1


def blog_numpy():
    """The blog's loop, as written: returns (final output l2, mean |error| per iteration)."""
    def sigmoid(x, deriv=False):
        if deriv:
            return x * (1 - x)
        return 1 / (1 + np.exp(-x))

    syn0, syn1 = initial_synapses()
    errors = []
    for _ in range(ITERATIONS):
        l0 = X
        l1 = sigmoid(np.dot(l0, syn0))
        l2 = sigmoid(np.dot(l1, syn1))
        l2_error = Y - l2
        errors.append(np.mean(np.abs(l2_error)))
        l2_delta = l2_error * sigmoid(l2, deriv=True)
        l1_error = l2_delta.dot(syn1.T)
        l1_delta = l1_error * sigmoid(l1, deriv=True)
        syn1 += l1.T.dot(l2_delta)
        syn0 += l0.T.dot(l1_delta)
    return sigmoid(np.dot(sigmoid(np.dot(X, syn0)), syn1)), errors, (syn0, syn1)


def fastnn_model():
    """The same network in fastnn, trained the same way."""
    model = Sequential([Dense(4, activation="sigmoid", use_bias=False, input_dim=3),
                        Dense(1, activation="sigmoid", use_bias=False)], dtype="float64")
    model.compile(optimizer=SGD(learning_rate=1.0), loss="sse")
    model.set_weights(list(initial_synapses()))
    errors = []
    for _ in range(ITERATIONS):
        errors.append(np.mean(np.abs(Y - model.predict(X))))
        model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model.predict(X), errors, model.get_weights()


if __name__ == "__main__":
    numpy_out, numpy_errors, _ = blog_numpy()
    fast_out, fast_errors, _ = fastnn_model()
    for i in (0, 9, 19, 29, 39, 49):
        print(f"iteration {i + 1:2d}: mean |error| numpy {numpy_errors[i]:.10f}  "
              f"fastnn {fast_errors[i]:.10f}")
    print("Output after training (numpy):", np.round(numpy_out.ravel(), 8))
    print("Output after training (fastnn):", np.round(fast_out.ravel(), 8))
    print("max |difference|:", float(np.abs(numpy_out - fast_out).max()))
