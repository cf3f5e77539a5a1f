"""What ``MLPClassifier`` and ``MLPRegressor`` share: parameters, the fastnn network
that holds the weights, scikit-learn's stochastic and lbfgs solvers, and predict."""
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, validate_data
from threadpoolctl import ThreadpoolController

from ..kernels import network
from ..kernels import sklearn_rules as rules
from ..layers import Dense
from ..model import Sequential

_STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's activation names -> fastnn's.
_HIDDEN = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT = {"identity": "linear", "exp": "linear", "logistic": "sigmoid", "softmax": "softmax"}
_LOSS_CODES = {"identity": rules.SQUARED_ERROR, "exp": rules.POISSON,
               "softmax": rules.LOG_LOSS, "logistic": rules.BINARY_LOG_LOSS}
_DTYPES = {"float32": np.float32, "float64": np.float64}
_POOLS = {}


def _blas_one_thread():
    """A context limiting BLAS to one thread (the kernels call it serially; small
    products lose to a second thread's hand-offs). The controller is made once: a
    fresh ``threadpool_limits`` scans the loaded libraries, ~5 ms each time."""
    if "controller" not in _POOLS:
        _POOLS["controller"] = ThreadpoolController()
    return _POOLS["controller"].limit(limits=1, user_api="blas")


def _reshuffled(order, random_state):
    """``order`` permuted by the draw ``sklearn.utils.shuffle`` makes (a shuffle of
    arange(n) with the same RandomState), without its per-call validation."""
    indices = np.arange(order.shape[0])
    random_state.shuffle(indices)
    return order[indices]


# Rows per kernel call of predict and of the lbfgs objective (bounds the workspace).
_CHUNK_ROWS = 4096


class _Solver:
    """The stochastic solver's state: scikit-learn's ``SGDOptimizer`` or
    ``AdamOptimizer`` with the slots in one (2, P) array (velocity; or m and s)."""

    def __init__(self, estimator, size, dtype):
        self.rule = rules.SGD if estimator.solver == "sgd" else rules.ADAM
        self.learning_rate_init = float(estimator.learning_rate_init)
        self.learning_rate = self.learning_rate_init
        self.lr_schedule = estimator.learning_rate
        self.power_t = float(estimator.power_t)
        self.t = 0
        self.state = np.zeros((2, size), dtype=dtype)
        self.hyper = np.zeros(rules.N_HYPER)
        self.hyper[rules.H_MOMENTUM] = estimator.momentum
        self.hyper[rules.H_NESTEROV] = float(bool(estimator.nesterovs_momentum))
        self.hyper[rules.H_BETA_1] = estimator.beta_1
        self.hyper[rules.H_BETA_2] = estimator.beta_2
        self.hyper[rules.H_EPSILON] = estimator.epsilon

    def iteration_ends(self, time_step):
        """scikit-learn's 'invscaling': lr = lr_init / (t + 1) ** power_t (SGD only)."""
        if self.rule == rules.SGD and self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """True to stop; SGD with 'adaptive' divides the rate by 5 instead, down to 1e-6."""
        if self.rule == rules.ADAM or self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class _BaseMLP(BaseEstimator):
    """Shared machinery of the two estimators (not for direct use)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions(set(_DTYPES))],
    }

    # ----------------------------------------------------------- the network
    def _build_model(self, layer_units, dtype):
        """A fastnn Sequential for ``layer_units`` (n_in, hidden..., n_out) whose flat
        buffer the fitted attributes view (see ``_attach``)."""
        hidden = _HIDDEN[self.activation]
        layers = [Dense(int(units), activation=hidden) for units in layer_units[1:-1]]
        layers.append(Dense(int(layer_units[-1]), activation=_OUTPUT[self.out_activation_]))
        model = Sequential(layers, dtype=np.dtype(dtype).name, seed=0)
        model.build(int(layer_units[0]))
        return model

    def _attach(self, model):
        """Point ``coefs_`` (n_in, n_out) and ``intercepts_`` at the model's buffer."""
        params, coefs, intercepts, offset = model.params, [], [], 0
        for fan_in, fan_out in _pairs(self._layer_units(model)):
            w = params[offset:offset + fan_in * fan_out].reshape(fan_out, fan_in)
            offset += fan_in * fan_out
            coefs.append(w.T)
            intercepts.append(params[offset:offset + fan_out])
            offset += fan_out
        self._model = model
        self._views = (coefs, intercepts)
        net = self._net(model)
        self._predict_net = (net, int(net[0][-1]), int(net[0].sum()))
        self.coefs_, self.intercepts_ = list(coefs), list(intercepts)

    @staticmethod
    def _layer_units(model):
        return [model.input_dim] + [layer.units for layer in model.layers]

    def _network(self):
        """The model, its buffer holding ``coefs_``/``intercepts_`` even when they were
        replaced or modified since (scikit-learn lets users set them)."""
        model = getattr(self, "_model", None)
        views = getattr(self, "_views", None)
        if (model is not None and views is not None
                and len(self.coefs_) == len(views[0])
                and all(a is b for a, b in zip(self.coefs_, views[0]))
                and all(a is b for a, b in zip(self.intercepts_, views[1]))):
            return model
        coefs = [np.asarray(c) for c in self.coefs_]
        intercepts = [np.asarray(b) for b in self.intercepts_]
        units = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
        dtype = _DTYPES[self.dtype]
        if (model is None or self._layer_units(model) != units
                or model.dtype != np.dtype(dtype)):
            model = self._build_model(units, dtype)
        self._attach(model)
        for view, value in zip(self._views[0] + self._views[1], coefs + intercepts):
            view[...] = value
        return model

    def _net(self, model):
        """The (sizes, activation codes, has_bias, l2) tuple the kernels read."""
        from ..registries import ACTIVATIONS
        sizes = np.array(self._layer_units(model), dtype=np.int64)
        codes = np.array([ACTIVATIONS[layer.activation] for layer in model.layers],
                         dtype=np.int64)
        return (sizes, codes, np.ones(len(model.layers), dtype=np.bool_),
                np.zeros(len(model.layers)))

    # ------------------------------------------------------------------ fit
    def _init_coef(self, fan_in, fan_out, dtype):
        """Glorot-uniform draws in scikit-learn's order (bound sqrt(2/(fan_in+fan_out))
        for logistic, sqrt(6/...) otherwise), so a random_state gives its weights."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
        intercept = self._random_state.uniform(-bound, bound, fan_out)
        return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not isinstance(self, ClassifierMixin):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        model = self._build_model(layer_units, dtype)
        self._attach(model)
        for i in range(self.n_layers_ - 1):
            coef, intercept = self._init_coef(layer_units[i], layer_units[i + 1], dtype)
            self.coefs_[i][...] = coef
            self.intercepts_[i][...] = intercept
        self._best_params = model.params.copy()
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden_layer_sizes}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        dtype = _DTYPES[self.dtype]
        layer_units = [X.shape[1]] + hidden_layer_sizes + [y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, dtype)
        else:
            self.n_outputs_ = y.shape[1]
        model = self._network()
        if self._layer_units(model) != layer_units:
            raise ValueError(f"fit: the fitted network has layer sizes "
                             f"{self._layer_units(model)}, but this data and "
                             f"hidden_layer_sizes need {layer_units}; fit without warm_start.")
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(model, X, y, sample_weight, incremental)
        else:
            self._fit_lbfgs(model, X, y, sample_weight)
        if not np.isfinite(model.params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")
        return self

    def _kernel_data(self, X, y, sample_weight):
        """(x, csr, y, weights) as the kernels take them, in the model's dtype."""
        dtype = _DTYPES[self.dtype]
        if scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X, dtype=dtype)
            csr = (np.ascontiguousarray(X.data), X.indices.astype(np.int64),
                   X.indptr.astype(np.int64))
            x = np.zeros((0, X.shape[1]), dtype=dtype)
        else:
            # Writeable as well: Numba compiles read-only arrays (memory maps that
            # joblib hands to workers) as a type of their own.
            x = np.require(X, dtype=dtype, requirements=["C", "W"])
            csr = (np.zeros(0, dtype=dtype), np.zeros(0, np.int64), np.zeros(0, np.int64))
        y = np.require(y, dtype=dtype, requirements=["C", "W"])
        if sample_weight is None:
            weights = np.ones(y.shape[0], dtype=dtype)
        else:
            weights = np.require(sample_weight, dtype=dtype, requirements=["C", "W"])
        return (x, csr, y, weights)

    def _fit_stochastic(self, model, X, y, sample_weight, incremental):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _Solver(self, model.params.size, model.dtype)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = y if isinstance(self, ClassifierMixin) and self.n_outputs_ == 1 else None
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            split = train_test_split(*arrays, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, y_train, y_val = split[:4]
            sample_weight_train, sample_weight_val = (
                (None, None) if sample_weight is None else split[4:])
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            if isinstance(self, ClassifierMixin):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None
        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=np.int64)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        data = self._kernel_data(X_train, y_train, sample_weight_train)
        net = self._net(model)
        solver = self._optimizer
        try:
            with _blas_one_thread():
                self._epochs(model, data, net, solver, sample_idx, batch_size, early_stopping,
                             X_val, y_val, sample_weight_val, incremental)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            model.params[...] = self._best_params

    def _epochs(self, model, data, net, solver, sample_idx, batch_size, early_stopping,
                X_val, y_val, sample_weight_val, incremental):
        """scikit-learn's epoch loop: one kernel call per epoch, then the schedule,
        the stopping rule and the ConvergenceWarning in Python."""
        n_samples = sample_idx.shape[0]
        width = int(net[0].sum())
        acts = np.empty(batch_size * width, dtype=model.dtype)
        deltas = np.empty(batch_size * width, dtype=model.dtype)
        grads = np.empty(model.params.size, dtype=model.dtype)
        loss_code = _LOSS_CODES[self.out_activation_]
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            if self.shuffle:
                sample_idx = _reshuffled(sample_idx, self._random_state)
            solver.hyper[rules.H_LEARNING_RATE] = solver.learning_rate
            solver.hyper[rules.H_ALPHA] = self.alpha
            accumulated = rules.train_epoch(
                model.params, solver.state, grads, acts, deltas, net, data, sample_idx,
                batch_size, loss_code, solver.rule, solver.hyper, solver.t)
            if solver.rule == rules.ADAM:
                solver.t += -(-n_samples // batch_size)
            self.n_iter_ += 1
            self.loss_ = accumulated / n_samples
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement_count(early_stopping, X_val, y_val,
                                              sample_weight_val)
            solver.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                if early_stopping:
                    msg = ("Validation score did not improve more than tol=%f for %d "
                           "consecutive epochs." % (self.tol, self.n_iter_no_change))
                else:
                    msg = ("Training loss did not improve more than tol=%f for %d "
                           "consecutive epochs." % (self.tol, self.n_iter_no_change))
                if solver.trigger_stopping(msg, self.verbose):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and "
                              "the optimization hasn't converged yet." % self.max_iter,
                              ConvergenceWarning)

    def _update_no_improvement_count(self, early_stopping, X, y, sample_weight):
        if early_stopping:
            score = self._score(X, y, sample_weight=sample_weight)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._model.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, model, X, y, sample_weight):
        data = self._kernel_data(X, y, sample_weight)
        net = self._net(model)
        rows = max(1, min(X.shape[0], _CHUNK_ROWS))
        width = int(net[0].sum())
        acts = np.empty(rows * width, dtype=model.dtype)
        deltas = np.empty(rows * width, dtype=model.dtype)
        grads = np.empty(model.params.size, dtype=model.dtype)
        loss_code = _LOSS_CODES[self.out_activation_]
        alpha = float(self.alpha)
        order = np.arange(data[2].shape[0])

        def loss_and_gradient(packed):
            model.params[...] = packed
            loss = rules.objective(grads, model.params, acts, deltas, net, data, order,
                                   loss_code, alpha)
            return loss, grads.astype(np.float64)

        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        with _blas_one_thread():
            result = scipy.optimize.minimize(loss_and_gradient,
                                             model.params.astype(np.float64),
                                             method="L-BFGS-B", jac=True, options=options)
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        model.params[...] = result.x

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classification) or real numbers (regression).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # -------------------------------------------------------------- predict
    def _plain_input(self, X):
        """Whether X needs none of validate_data's conversions or checks: a finite 2-D
        float ndarray of the fitted width, the estimator fitted without feature names.
        Such input skips it (~100 us, most of a small predict)."""
        return (type(X) is np.ndarray and X.ndim == 2 and X.shape[0] > 0
                and X.dtype in (np.float32, np.float64)
                and X.shape[1] == self.n_features_in_
                and "feature_names_in_" not in self.__dict__ and np.isfinite(X).all())

    def _forward_pass_fast(self, X, check_input=True):
        if check_input and not self._plain_input(X):
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        model = self._network()
        if scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X)
            out = np.concatenate([self._outputs(model, X[i:i + _CHUNK_ROWS].toarray())
                                  for i in range(0, X.shape[0], _CHUNK_ROWS)])
        else:
            out = self._outputs(model, X)
        if self.out_activation_ == "exp":
            np.exp(out, out=out)
        return out

    def _outputs(self, model, x):
        """The network's outputs for dense x (validated), by the predict kernel."""
        if x.dtype != model.dtype or not (x.flags.c_contiguous and x.flags.writeable):
            x = np.require(x, dtype=model.dtype, requirements=["C", "W"])
        net, outputs, width = self._predict_net
        rows = max(1, min(x.shape[0], _CHUNK_ROWS))
        out = np.empty((x.shape[0], outputs), dtype=model.dtype)
        acts = np.empty(rows * width, dtype=model.dtype)
        network.predict(out, net, model.params, acts, x, rows)
        return out

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        for key in ("_model", "_views", "_predict_net"):
            state.pop(key, None)
        for key in ("coefs_", "intercepts_"):
            if key in state:
                state[key] = [np.array(a) for a in state[key]]
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _pairs(units):
    return list(zip(units[:-1], units[1:]))


_DOC_PARAMETERS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The i-th element is the number of units of the i-th hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' runs SciPy's L-BFGS-B on the whole data's loss and gradient.
    alpha : float, default=0.0001
        L2 strength: the loss adds alpha / (2 * sum of the batch's sample weights) *
        sum of the squared weights (biases excluded).
    batch_size : int or 'auto', default='auto'
        'auto' is min(200, n_samples); ignored by lbfgs.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the 'sgd' solver.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
        Exponent of 'invscaling': lr = learning_rate_init / (t + 1) ** power_t,
        t the samples seen.
    max_iter : int, default=200
        Epochs (stochastic solvers) or iterations (lbfgs).
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Initial weights, shuffling and the early-stopping split.
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its score stops
        improving by ``tol`` for ``n_iter_no_change`` epochs; keeps the best weights.
    validation_fraction : float, default=0.1
    beta_1 : float, default=0.9
    beta_2 : float, default=0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        Most loss evaluations of lbfgs.
    dtype : {'float32', 'float64'}, default='float32'
        fastnn only: the dtype of the weights and of all computation. scikit-learn
        computes in the input's dtype (float64 for most data); 'float64' reproduces
        its arithmetic to rounding.
"""

_DOC_ATTRIBUTES = """
    coefs_ : list of ndarray, each (n_in, n_out)
        Views of the weights held by the fastnn model; assign or modify to change them.
    intercepts_ : list of ndarray, each (n_out,)
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    n_iter_ : int
    t_ : int
        Training samples seen.
    loss_ : float
    best_loss_ : float or None
    loss_curve_ : list of float
        The mean of the batch losses of each epoch (stochastic solvers).
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
"""
