"""sweep's argument checks, all made before anything trains."""
import inspect
import itertools

import numpy as np

from ..many import cross_validation_weights
from ..model_data import check_data
from .tasks import _WHERE, _logged


def _checked_params(params):
    """The list of config dicts from a grid (dict of lists) or a list of dicts."""
    if isinstance(params, dict):
        if not params:
            raise ValueError(f"{_WHERE}: params is an empty grid; give at least one name "
                             "and a list of values, e.g. {'learning_rate': [0.01, 0.1]}.")
        for name, values in params.items():
            if not isinstance(name, str):
                raise TypeError(f"{_WHERE}: params keys must be argument names (str), got "
                                f"{type(name).__name__} {name!r}.")
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple,
                                                                            np.ndarray, range)):
                raise TypeError(f"{_WHERE}: params[{name!r}] must be a list of values, got "
                                f"{type(values).__name__} {values!r}; write [{values!r}] for "
                                "one value.")
            if len(values) == 0:
                raise ValueError(f"{_WHERE}: params[{name!r}] is empty; the grid would "
                                 "have no configurations.")
        names = list(params)
        return [dict(zip(names, combination))
                for combination in itertools.product(*(list(params[n]) for n in names))]
    if isinstance(params, (list, tuple)):
        if not params:
            raise ValueError(f"{_WHERE}: params is an empty list; give at least one config "
                             "dict.")
        for i, config in enumerate(params):
            if not isinstance(config, dict):
                raise TypeError(f"{_WHERE}: params[{i}] must be a dict of build's arguments, "
                                f"got {type(config).__name__}.")
            for name in config:
                if not isinstance(name, str):
                    raise TypeError(f"{_WHERE}: params[{i}] keys must be argument names "
                                    f"(str), got {type(name).__name__} {name!r}.")
        return [dict(config) for config in params]
    raise TypeError(f"{_WHERE}: params must be a dict of lists (a grid) or a list of config "
                    f"dicts, got {type(params).__name__}.")


def _checked_build(build, configs):
    """``build``, once every config binds to its signature."""
    if not callable(build):
        raise TypeError(f"{_WHERE}: build must be a function build(**config) returning a "
                        f"compiled Sequential, got {type(build).__name__}.")
    try:
        signature = inspect.signature(build)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return build
    for i, config in enumerate(configs):
        try:
            signature.bind(**config)
        except TypeError as error:
            name = getattr(build, "__name__", "build")
            raise ValueError(f"{_WHERE}: config {i} {config!r} does not fit "
                             f"{name}{signature}: {error}. Give build a parameter for every "
                             "key of params.") from None
    return build


def _check_metric(metric, model, index, validated):
    logged = _logged(model, validated)
    if metric not in logged:
        hint = ("; val_* quantities need validation_split, validation_data or cv"
                if metric.startswith("val_") and not validated else "")
        raise ValueError(f"{_WHERE}: metric {metric!r} is not logged by config {index}'s "
                         f"model, which logs {', '.join(map(repr, logged))}{hint}.")


def _checked_data(x, y, validation_data, validation_split, cv, seed, representatives):
    """x (in the models' dtype when they share one), y, validation data and folds,
    checked against one model of each group."""
    models = [model for _, model in representatives.values()]
    if not models:
        return x, y, validation_data, None
    converted = {}
    for model in models:
        data = check_data(model, _WHERE, converted.get(model.dtype, x), y)
        converted[model.dtype] = data[0]
        if validation_data is not None:
            check_data(model, f"{_WHERE} (validation_data)", *validation_data[:2],
                       *validation_data[2:], features=data[0].shape[1])
    # One dtype: the tasks get x converted once, here, not each its own copy.
    x = converted.popitem()[1] if len(converted) == 1 else np.asarray(x)
    y = np.asarray(y)
    n = x.shape[0]
    if validation_split:
        split = n - int(n * validation_split)
        if split <= 0 or split >= n:
            raise ValueError(f"{_WHERE}: validation_split={validation_split} leaves {split} "
                             f"training and {n - split} validation samples of {n}.")
    if validation_data is not None:
        validation_data = tuple(np.asarray(v) for v in validation_data)
    folds = None
    if cv is not None:
        if cv > n:
            raise ValueError(f"{_WHERE}: cv={cv} folds need at least {cv} samples; x has {n}.")
        train, held_out = cross_validation_weights(n, cv, seed=seed)
        folds = (train, [(x[rows], y[rows]) for rows in held_out])
    return x, y, validation_data, folds
