"""fastnn.sklearn: scikit-learn's estimator checks, parity with scikit-learn's own MLP
in float64, and the behaviour its users rely on (pipelines, searches, pickles)."""
import copy
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse  # noqa: E402
from sklearn import neural_network as sk  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_sample_weight_equivalence_on_dense_data, parametrize_with_checks)

from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Stochastic solvers see different batches when a sample is repeated instead of
# weighted, so a fit with weights cannot equal a fit on repeated rows (scikit-learn's
# own MLP runs this check only with lbfgs or one full batch, as
# test_sample_weight_equivalence below does).
_WEIGHT_REASON = ("mini-batch adam: repeating a sample changes the batches, so weights "
                  "and repeats differ; checked with lbfgs and a full batch below")
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": _WEIGHT_REASON,
    "check_sample_weight_equivalence_on_sparse_data": _WEIGHT_REASON,
}


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILURES)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", [
    MLPClassifier(solver="lbfgs", dtype="float64", random_state=0),
    MLPRegressor(solver="sgd", dtype="float64", tol=1e-2, random_state=42),
], ids=["classifier-lbfgs", "regressor-full-batch-sgd"])
def test_sample_weight_equivalence(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# ------------------------------------------------------------------ parity
@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:600] / 16.0, y[:600]


def _pair(cls_name, **params):
    ours = getattr(sys.modules[__name__], cls_name)(dtype="float64", **params)
    theirs = getattr(sk, cls_name)(**params)
    return ours, theirs


def _assert_same_fit(ours, theirs, atol=1e-10):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=0, atol=atol)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    if theirs.validation_scores_ is not None:
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                                   atol=atol)


PARITY_CASES = {
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "adam-alpha": dict(solver="adam", alpha=0.5, learning_rate_init=0.01),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.1, alpha=0.01),
    "sgd-momentum": dict(solver="sgd", nesterovs_momentum=False, momentum=0.5,
                         learning_rate_init=0.1),
    "sgd-plain-tanh": dict(solver="sgd", momentum=0.0, activation="tanh",
                           learning_rate_init=0.2),
    "sgd-invscaling-logistic": dict(solver="sgd", learning_rate="invscaling", power_t=0.25,
                                    activation="logistic", learning_rate_init=0.5),
    # tol=10: no epoch improves enough, so the rate is divided by 5 every other epoch.
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", tol=10.0,
                         n_iter_no_change=1, learning_rate_init=0.1),
    "early-stopping": dict(solver="adam", early_stopping=True, validation_fraction=0.2,
                           learning_rate_init=0.01),
}


@pytest.mark.parametrize("case", list(PARITY_CASES))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_classifier_matches_sklearn_shuffled(digits, case, weighted):
    """Same random_state: the same initial weights, shuffles and split; batch 64 leaves
    a partial last batch (600 = 9 * 64 + 24)."""
    x, y = digits
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    params = dict(hidden_layer_sizes=(16, 8), max_iter=5, batch_size=64, random_state=0,
                  **PARITY_CASES[case])
    ours, theirs = _pair("MLPClassifier", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(x, y, sample_weight=weights)
        theirs.fit(x, y, sample_weight=weights)
    _assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-10)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_parity_from_sklearns_weights_unshuffled(digits, solver):
    """scikit-learn's initial weights copied into coefs_/intercepts_, then 5 epochs
    with warm_start and shuffle=False."""
    x, y = digits
    params = dict(hidden_layer_sizes=(16,), solver=solver, batch_size=50, shuffle=False,
                  warm_start=True, max_iter=1, learning_rate_init=0.01, alpha=0.1)
    theirs = sk.MLPClassifier(random_state=1, **params)
    ours = MLPClassifier(random_state=2, dtype="float64", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(x, y)
        ours.fit(x, y)
        ours.coefs_ = [c.copy() for c in theirs.coefs_]
        ours.intercepts_ = [b.copy() for b in theirs.intercepts_]
        theirs.set_params(max_iter=5).fit(x, y)
        ours.set_params(max_iter=5).fit(x, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=0,
                               atol=1e-10)


@pytest.mark.parametrize("target", ["binary", "multilabel"])
def test_logistic_outputs_match_sklearn(digits, target):
    x, y = digits
    y = (y > 4).astype(int) if target == "binary" else np.stack([y > 4, y % 2 == 0], 1)
    params = dict(hidden_layer_sizes=(12,), max_iter=5, batch_size=100, random_state=0,
                  learning_rate_init=0.01, early_stopping=target == "binary")
    ours, theirs = _pair("MLPClassifier", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(x, y)
        theirs.fit(x, y)
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    _assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_regressor_matches_sklearn(digits, loss, solver):
    x, y = digits
    targets = np.stack([y / 3.0, (x[:, 20] > 0.5) * 2.0], axis=1)  # two outputs, >= 0
    params = dict(loss=loss, hidden_layer_sizes=(10,), solver=solver, max_iter=5,
                  batch_size=70, random_state=0, alpha=0.05,
                  learning_rate_init=0.001 if solver == "sgd" else 0.01,
                  early_stopping=solver == "adam")
    ours, theirs = _pair("MLPRegressor", **params)
    weights = np.linspace(0.5, 1.5, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(x, targets, sample_weight=weights)
        theirs.fit(x, targets, sample_weight=weights)
    assert ours.out_activation_ == theirs.out_activation_
    _assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x), atol=1e-10)


@pytest.mark.parametrize("cls_name", ["MLPClassifier", "MLPRegressor"])
def test_lbfgs_matches_sklearn(digits, cls_name):
    x, y = digits
    params = dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=30, random_state=0,
                  alpha=0.01)
    ours, theirs = _pair(cls_name, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(x, y)
        theirs.fit(x, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    assert not hasattr(ours, "loss_curve_")


# --------------------------------------------------------------- behaviour
def test_pipeline_on_digits_scores_like_sklearn():
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    scores = []
    for cls in (MLPClassifier, sk.MLPClassifier):
        pipe = make_pipeline(StandardScaler(), cls(max_iter=60, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores.append(pipe.fit(x_train, y_train).score(x_test, y_test))
    assert scores[0] > 0.9
    assert abs(scores[0] - scores[1]) <= 0.01


def _grid_search(n_jobs, x, y):
    search = GridSearchCV(MLPClassifier((8,), max_iter=20, random_state=0),
                          {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]},
                          cv=3, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return search.fit(x, y).cv_results_


def test_grid_search_parallel_equals_serial(digits):
    x, y = digits
    serial = _grid_search(1, x, y)
    parallel = _grid_search(2, x, y)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(serial[key], parallel[key])


def test_grid_search_on_dask_equals_serial(digits):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    x, y = digits
    serial = _grid_search(1, x, y)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster), parallel_config(backend="dask"):
            on_dask = _grid_search(-1, x, y)
    np.testing.assert_array_equal(serial["mean_test_score"], on_dask["mean_test_score"])


def _fitted(digits, **params):
    x, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((8,), max_iter=5, random_state=0, **params).fit(x, y)


def test_pickle_predicts_identically_in_a_fresh_process(digits, tmp_path):
    model = _fitted(digits)
    x = digits[0][:50]
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    np.save(tmp_path / "x.npy", x)
    script = ("import pickle, sys, numpy as np; m = pickle.load(open(sys.argv[1], 'rb')); "
              "np.save(sys.argv[3], m.predict_proba(np.load(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"),
                    str(tmp_path / "p.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), model.predict_proba(x))


def test_import_fastnn_does_not_import_sklearn():
    code = "import sys, fastnn; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_clone_and_deepcopy(digits):
    model = _fitted(digits, alpha=0.5)
    fresh = clone(model)
    assert fresh.get_params() == model.get_params()
    assert not hasattr(fresh, "coefs_")
    twin = copy.deepcopy(model)
    x = digits[0][:20]
    np.testing.assert_array_equal(twin.predict_proba(x), model.predict_proba(x))
    twin.coefs_[0][...] = 0  # the copy owns its weights
    assert not np.array_equal(twin.predict_proba(x), model.predict_proba(x))


def test_coefs_are_live_views_and_can_be_replaced(digits):
    model = _fitted(digits)
    x = digits[0][:10]
    before = model.predict_proba(x)
    model.intercepts_[-1][...] += 100.0 * np.arange(10)  # in place: class 9 wins
    assert (model.predict(x) == 9).all()
    model.intercepts_ = [b.copy() for b in model.intercepts_]
    model.intercepts_[-1] -= 100.0 * np.arange(10)
    np.testing.assert_allclose(model.predict_proba(x), before, rtol=1e-5, atol=1e-6)


def test_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MLPClassifier().predict(np.zeros((1, 2)))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MLPRegressor().predict(np.zeros((1, 2)))


def test_convergence_warning(digits):
    x, y = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\) reached"):
        MLPClassifier((4,), max_iter=2).fit(x, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((4,), solver="lbfgs", max_iter=2).fit(x, y)


def test_bad_parameters_raise_sklearns_errors(digits):
    x, y = digits
    with pytest.raises(InvalidParameterError, match="'solver' parameter"):
        MLPClassifier(solver="newton").fit(x, y)
    with pytest.raises(InvalidParameterError, match="'dtype' parameter"):
        MLPRegressor(dtype="float16").fit(x, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(x, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(x, y, classes=np.arange(10))
    with pytest.raises(AttributeError, match="has no attribute .partial_fit."):
        MLPClassifier(solver="lbfgs").partial_fit(x, y)


def test_partial_fit_with_classes_and_unseen_labels(digits):
    x, y = digits
    model = MLPClassifier((8,), random_state=0)
    model.partial_fit(x[y < 5], y[y < 5], classes=np.arange(10))
    assert model.n_iter_ == 1 and list(model.classes_) == list(range(10))
    model.partial_fit(x, y)
    assert model.t_ == (y < 5).sum() + len(y)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        model.partial_fit(x[:5], np.full(5, 11))


def test_sparse_readonly_and_dataframe_inputs(digits):
    pd = pytest.importorskip("pandas")
    x, y = digits
    dense = _fitted((x, y))
    sparse = _fitted((scipy.sparse.csr_matrix(x), y))
    np.testing.assert_allclose(sparse.predict_proba(x), dense.predict_proba(x), atol=1e-6)
    readonly = x.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(_fitted((readonly, y)).predict_proba(x),
                                  dense.predict_proba(x))
    frame = pd.DataFrame(x, columns=[f"pixel{i}" for i in range(x.shape[1])])
    named = _fitted((frame, y))
    assert list(named.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(named.predict_proba(frame), dense.predict_proba(x))


def test_float32_default_and_float64_option(digits):
    model = _fitted(digits)
    assert model.coefs_[0].dtype == np.float32
    assert model.predict_proba(digits[0][:3]).dtype == np.float32
    assert _fitted(digits, dtype="float64").coefs_[0].dtype == np.float64
