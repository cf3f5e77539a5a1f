"""Integer codes the kernels dispatch on. The Python API maps names to these.

Plain module-level ints: Numba freezes them as compile-time constants.
"""
# Activations (one per layer).
LINEAR = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
SOFTMAX = 5

LEAKY_RELU_SLOPE = 0.2  # Keras 3 ``activations.leaky_relu`` default negative_slope

# Losses.
MSE = 0
SSE = 1
BINARY_CROSSENTROPY = 2
CATEGORICAL_CROSSENTROPY = 3
SPARSE_CATEGORICAL_CROSSENTROPY = 4
MAE = 5
HUBER = 6

HUBER_DELTA = 1.0  # Keras 3 ``losses.Huber`` default delta

PROB_EPSILON = 1e-7  # Keras's clip for probabilities inside cross-entropy logs

# Accuracy variants (chosen by the API from the shapes, as Keras: one output unit is
# binary, integer labels sparse, anything else categorical).
NO_ACCURACY = 0
SPARSE_ACCURACY = 1
CATEGORICAL_ACCURACY = 2
BINARY_ACCURACY = 3

# Optimizers.
SGD = 0
SGD_NESTEROV = 1
ADAM = 2
RMSPROP = 3
ADAM_AMSGRAD = 4      # Adam(amsgrad=True): a third slot, the running max of v
RMSPROP_CENTERED = 5  # RMSprop(centered=True): a third slot, the mean gradient

# Slots of the per-epoch ``totals`` accumulator (float64).
# The metrics are summed twice: unweighted (Keras's ``metrics``) and weighted by the
# sample weights (Keras's ``weighted_metrics``).
T_LOSS = 0        # sum over samples of weight * loss (regularization included per batch)
T_WEIGHT = 1      # sum of sample weights
T_CORRECT = 2     # number of correctly classified samples (fractions for binary)
T_COUNT = 3       # number of samples seen
T_SQUARED = 4     # sum of the mean squared error over outputs
T_ABSOLUTE = 5    # sum of the mean absolute error over outputs
T_BATCHES = 6     # mini-batches completed
T_DIVERGED = 7    # 1.0 when a non-finite loss stopped the epoch
T_WEIGHTED_CORRECT = 8   # sum of weight * correct
T_WEIGHTED_SQUARED = 9   # sum of weight * mean squared error over outputs
T_WEIGHTED_ABSOLUTE = 10  # sum of weight * mean absolute error over outputs
N_TOTALS = 11
