"""fastnn.sklearn's estimators against scikit-learn's own, in the same run.

The workload of their comparison: scikit-learn's defaults (adam, ``batch_size``
200, relu) with hidden layers (64, 64) on Fashion-MNIST-shaped data
(``datasets.synthetic``), 10 epochs of 20,000 rows (the ``fast`` profile: 2 epochs of
2,000), and batch 32; lbfgs on ``load_digits``; ``predict_proba`` of one row.

fastnn runs its default float32; scikit-learn gets float64 data, its usual case
(it computes in the input's dtype), and BLAS threads as ``common.numpy_blas_limits``
gives the other NumPy peers. Both are seeded alike and stop only at ``max_iter``
(``tol=0``). ``track_speedup_*`` time the two fits alternately in one process
(``common.interleaved_best_times``) and return scikit-learn's time / fastnn's; the
``track_loss_*`` beside them show that both learned.
"""
import warnings

import numpy as np

from . import common
from .datasets import synthetic

FAST = common.PROFILE == "fast"
N_FIT = 2_000 if FAST else 20_000
EPOCHS = 2 if FAST else 10
HIDDEN = (64, 64)
BATCH_SIZES = [200, 32]
ESTIMATORS = ["fastnn", "sklearn"]
LBFGS_ITERATIONS = 20 if FAST else 100


def _classes(name):
    """The MLPClassifier class of ``name``; NotImplementedError (an asv skip) without
    scikit-learn."""
    try:
        if name == "fastnn":
            from fastnn.sklearn import MLPClassifier
        else:
            from sklearn.neural_network import MLPClassifier
    except ImportError as error:
        raise NotImplementedError(f"scikit-learn is not installed: {error}") from None
    return MLPClassifier


def _data(name):
    """(x, y): float32 for fastnn, float64 for scikit-learn."""
    x, y = synthetic(N_FIT, "float32")
    return (x if name == "fastnn" else x.astype(np.float64)), y


def _estimator(name, batch_size, **params):
    settings = dict(hidden_layer_sizes=HIDDEN, batch_size=batch_size, max_iter=EPOCHS,
                    tol=0.0, random_state=common.SEED)
    settings.update(params)
    return _classes(name)(**settings)


def _fit(name, estimator, x, y, batch_size):
    limits = common.numpy_blas_limits(batch_size) if name == "sklearn" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the budget
        if limits is None:
            return estimator.fit(x, y)
        with limits:
            return estimator.fit(x, y)


def _warm_up(batch_size):
    """fastnn's kernels compiled (or loaded from Numba's cache) before any timing."""
    x, y = _data("fastnn")
    _fit("fastnn", _estimator("fastnn", batch_size, max_iter=1), x[:256], y[:256],
         batch_size)


class SklearnFit(common.Benchmark):
    """``fit`` of each estimator: EPOCHS epochs of N_FIT rows."""

    params = (ESTIMATORS, BATCH_SIZES)
    param_names = ["estimator", "batch_size"]
    timeout = 1200

    def setup(self, estimator, batch_size):
        _classes(estimator)
        self.x, self.y = _data(estimator)
        _warm_up(batch_size)

    def time_fit(self, estimator, batch_size):
        _fit(estimator, _estimator(estimator, batch_size), self.x, self.y, batch_size)

    def track_loss(self, estimator, batch_size):
        model = _fit(estimator, _estimator(estimator, batch_size), self.x, self.y,
                     batch_size)
        return float(model.loss_)

    track_loss.unit = "training loss after the last epoch"


class SklearnSpeedup(common.Benchmark):
    """scikit-learn's fit time / fastnn's, measured alternately in one process."""

    params = (BATCH_SIZES,)
    param_names = ["batch_size"]
    unit = "speedup (scikit-learn time / fastnn time)"
    timeout = 1800

    def setup(self, batch_size):
        _classes("sklearn")
        self.data = {name: _data(name) for name in ESTIMATORS}
        _warm_up(batch_size)

    def _run(self, name, batch_size):
        x, y = self.data[name]
        return _fit(name, _estimator(name, batch_size), x, y, batch_size)

    def track_speedup_fit(self, batch_size):
        fastnn_time, sklearn_time = common.interleaved_best_times(
            lambda: self._run("fastnn", batch_size), lambda: self._run("sklearn", batch_size),
            repeats=1 if FAST else common.TRACK_REPEATS)
        return sklearn_time / fastnn_time

    def track_loss_difference(self, batch_size):
        """fastnn's final training loss minus scikit-learn's (same seed and settings)."""
        return float(self._run("fastnn", batch_size).loss_
                     - self._run("sklearn", batch_size).loss_)

    track_loss_difference.unit = "loss difference (fastnn - scikit-learn)"


class SklearnLbfgs(common.Benchmark):
    """lbfgs on ``load_digits`` (hidden (64,), LBFGS_ITERATIONS iterations)."""

    params = (ESTIMATORS,)
    param_names = ["estimator"]

    def setup(self, estimator):
        from sklearn.datasets import load_digits

        _classes(estimator)
        x, self.y = load_digits(return_X_y=True)
        x = x / 16.0
        self.x = {"fastnn": x.astype(np.float32), "sklearn": x}
        _fit("fastnn", self._estimator("fastnn"), self.x["fastnn"][:100], self.y[:100], 200)

    @staticmethod
    def _estimator(name):
        return _classes(name)(hidden_layer_sizes=(64,), solver="lbfgs",
                              max_iter=LBFGS_ITERATIONS, random_state=common.SEED)

    def time_lbfgs(self, estimator):
        _fit(estimator, self._estimator(estimator), self.x[estimator], self.y, 200)

    def track_lbfgs_loss(self, estimator):
        return float(_fit(estimator, self._estimator(estimator), self.x[estimator], self.y,
                          200).loss_)

    track_lbfgs_loss.unit = "loss after the iterations"

class SklearnLbfgsSpeedup(common.Benchmark):
    """scikit-learn's lbfgs time / fastnn's, measured alternately in one process."""

    unit = "speedup (scikit-learn time / fastnn time)"

    def setup(self):
        self.fits = SklearnLbfgs()
        self.fits.setup("sklearn")

    def track_speedup_lbfgs(self):
        fastnn_time, sklearn_time = common.interleaved_best_times(
            lambda: self.fits.time_lbfgs("fastnn"), lambda: self.fits.time_lbfgs("sklearn"),
            repeats=1 if FAST else common.TRACK_REPEATS)
        return sklearn_time / fastnn_time


class SklearnPredictProba(common.Benchmark):
    """``predict_proba`` of one row, on a fitted (one epoch) estimator."""

    params = (ESTIMATORS,)
    param_names = ["estimator"]
    repeat = (50, 1000, 2.0)

    def setup(self, estimator):
        _classes(estimator)
        x, y = _data(estimator)
        self.model = _fit(estimator, _estimator(estimator, 200, max_iter=1), x[:1000],
                          y[:1000], 200)
        self.row = np.array(x[:1])
        self.model.predict_proba(self.row)

    def time_predict_proba_single(self, estimator):
        self.model.predict_proba(self.row)
