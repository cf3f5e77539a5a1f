"""The primer's single sigmoid neuron: one gradient-descent step, through fastnn.

Primer (NumPy): x = [1, 2, 3, 4], y = 0.5, w = [0.5, -0.5, 0.3, 0.1], learnrate 0.5
  -> output 0.6899745, weight change [-0.0203187, -0.0406374, -0.0609561, -0.0812748].
In fastnn the neuron is Dense(1, sigmoid, no bias); the primer's error E = 1/2 (y - y_hat)^2
is the "sse" loss, and one SGD step with learning rate 0.5 is its update w += lr*error_term*x.
"""
import numpy as np

from fastnn import Dense, Sequential
from fastnn.optimizers import SGD

x = np.array([[1.0, 2.0, 3.0, 4.0]])
y = np.array([[0.5]])
w = np.array([0.5, -0.5, 0.3, 0.1])
learnrate = 0.5


def single_step():
    """(output, weight change) of one step, computed by fastnn's kernels."""
    neuron = Sequential([Dense(1, activation="sigmoid", use_bias=False, input_dim=4)],
                        dtype="float64")
    neuron.compile(optimizer=SGD(learning_rate=learnrate), loss="sse")
    neuron.set_weights([w.reshape(4, 1)])
    output = neuron.predict(x)[0, 0]
    neuron.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    return output, neuron.get_weights()[0][:, 0] - w


if __name__ == "__main__":
    output, change = single_step()
    print("Neural Network output:")
    print(f"{output:.7f}")
    print("Amount of Error:")
    print(f"{0.5 - output:.7f}")
    print("Change in Weights:")
    print(np.array2string(change, precision=7))
