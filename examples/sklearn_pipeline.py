"""fastnn's scikit-learn estimators in a Pipeline and a grid search.

Changing the import is the whole port: ``from fastnn.sklearn import MLPClassifier``
instead of ``from sklearn.neural_network import MLPClassifier``. Needs scikit-learn
(``pip install "fastnn-mlp[sklearn]"``).

    python examples/sklearn_pipeline.py
"""
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn.sklearn import MLPClassifier


def main():
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    warnings.simplefilter("ignore", ConvergenceWarning)

    for name, cls in (("fastnn", MLPClassifier), ("scikit-learn", SklearnMLPClassifier)):
        pipe = make_pipeline(StandardScaler(), cls(hidden_layer_sizes=(64,), random_state=0))
        start = time.perf_counter()
        pipe.fit(x_train, y_train)
        seconds = time.perf_counter() - start
        print(f"{name:>12}: test accuracy {pipe.score(x_test, y_test):.3f}, "
              f"fit {seconds:.2f} s, {pipe[-1].n_iter_} epochs")

    search = GridSearchCV(make_pipeline(StandardScaler(), MLPClassifier(random_state=0)),
                          {"mlpclassifier__alpha": [1e-4, 1e-2],
                           "mlpclassifier__hidden_layer_sizes": [(32,), (64, 32)]},
                          cv=3, n_jobs=2)
    search.fit(x_train, y_train)
    print(f"grid search: best {search.best_params_}, "
          f"test accuracy {search.score(x_test, y_test):.3f}")


if __name__ == "__main__":
    main()
