"""scikit-learn estimators on fastnn: ``MLPClassifier`` and ``MLPRegressor``.

Drop-ins for ``sklearn.neural_network``'s classes of the same names (scikit-learn
1.9): the same constructor parameters, defaults, fitted attributes and training
rules (loss with scikit-learn's L2 term, its SGD and Adam updates, learning-rate
schedules, early stopping, lbfgs through SciPy), computed by compiled kernels
(``fastnn.kernels.sklearn_rules``) on a fastnn ``Sequential`` that holds the
weights and predicts.

One parameter is fastnn's own: ``dtype`` (default ``"float32"``). scikit-learn
computes in the input's dtype, float64 for most data; ``dtype="float64"`` follows
scikit-learn's arithmetic to rounding (given the same ``random_state`` it draws the
same initial weights, shuffles and splits the same way).

scikit-learn is an optional dependency: ``pip install "fastnn-mlp[sklearn]"``.
"""
from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
