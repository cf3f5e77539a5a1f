"""Input checks shared by the whole API: each names where, what was expected, what came.

Every check runs before any state changes (scikit-learn's check_array discipline).
"""
import math
import numbers
import os

import numba
import numpy as np

from . import _threads
from .kernels.checks import all_finite

# Values from which the finiteness check splits across two threads; below, handing
# half to a thread costs more than it saves.
_TWO_THREADS_FROM = 1 << 22


class NotCompiledError(RuntimeError, ValueError):
    """A model was trained or evaluated before ``compile``.

    A RuntimeError, as Keras raises, and a ValueError, as every other bad call here.
    """


def boolean(where, argument, value):
    """A bool (NumPy's included); strings such as "no" are refused, not read as truthy."""
    if value is True or value is False:
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {argument} must be True or False, got "
                        f"{type(value).__name__} {value!r}.")
    return bool(value)


def dtype_name(where, argument, value, options, default="float32"):
    """The registry key of a dtype given as a name ("float32", "f4"), a NumPy dtype or
    scalar type (``np.float32``), or None (``default``, Keras's floatx)."""
    if value is None:
        value = default
    try:
        name = np.dtype(value.lower() if isinstance(value, str) else value).name
    except TypeError:
        if not isinstance(value, str):
            raise TypeError(f"{where}: {argument} must be a dtype name or NumPy dtype, got "
                            f"{type(value).__name__} {value!r}. Expected one of: "
                            f"{', '.join(repr(k) for k in options)}.") from None
        name = value
    if name not in options:
        raise ValueError(f"{where}: unknown {argument} {value!r}"
                         f"{'' if name == value else f' ({name})'}. "
                         f"Expected one of: {', '.join(repr(k) for k in options)}.")
    return name


def choice(where, argument, value, options):
    """Return ``options[value]`` for a registry name, or raise listing the valid names."""
    if not isinstance(value, str):
        raise TypeError(f"{where}: {argument} must be a string name, got {type(value).__name__} "
                        f"{value!r}. Expected one of: {', '.join(repr(k) for k in options)}.")
    key = value.lower()
    if key not in options:
        raise ValueError(f"{where}: unknown {argument} {value!r}. "
                         f"Expected one of: {', '.join(repr(k) for k in options)}.")
    return options[key]


def positive_int(where, argument, value, allow_zero=False):
    """An int > 0 (or >= 0); bools and floats are refused."""
    # A plain int first: fit checks several per call, and the ABC check of
    # numbers.Integral costs ~1 us each.
    if type(value) is int and (value > 0 or (value == 0 and allow_zero)):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {argument} must be an int, got {type(value).__name__} "
                        f"{value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "a non-negative int" if allow_zero else "a positive int"
        raise ValueError(f"{where}: {argument} must be {bound}, got {value}.")
    return int(value)


def finite_float(where, argument, value):
    """A finite real of either sign, as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {argument} must be a number, got {type(value).__name__} "
                        f"{value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{where}: {argument} must be finite, got {value}.")
    return float(value)


def non_negative_float(where, argument, value, upper=None):
    """A finite real >= 0 (and < upper when given)."""
    if type(value) is float and 0.0 <= value < (math.inf if upper is None else upper):
        return value  # NaN fails the comparison and takes the checks below
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {argument} must be a number, got {type(value).__name__} "
                        f"{value!r}.")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{where}: {argument} must be {bound}, got {value}.")
    return value


def numeric_array(where, argument, value, dtype):
    """``value`` as a C-contiguous array of ``dtype``: real numbers, non-empty, all finite."""
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise ValueError(f"{where}: {argument} could not be read as an array: {error}") from None
    # dtype.kind, not np.issubdtype: the checks run on every call, and small problems
    # make many calls (issubdtype cost ~10 us a call).
    kind = array.dtype.kind
    if kind == "c":
        raise TypeError(f"{where}: {argument} must hold real numbers, got complex values.")
    if kind not in "biuf":
        raise TypeError(f"{where}: {argument} must hold real numbers, got an array of dtype "
                        f"{array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"{where}: {argument} must be an array of samples, got the scalar "
                         f"{value!r}.")
    if array.size == 0:
        raise ValueError(f"{where}: {argument} is empty (shape {array.shape}); "
                         "expected at least one sample.")
    if array.dtype == dtype and array.flags.c_contiguous:
        converted = array
    else:
        with np.errstate(over="ignore"):  # reported below, by name
            converted = np.ascontiguousarray(array, dtype=dtype)
    # Integers and booleans stay finite in any float dtype (int64's range lies far
    # inside float32's), so only floating input is scanned: integer labels then cost
    # no float64 compilation of the check.
    if kind == "f" and not _all_finite(converted.reshape(-1)):
        bad = int(np.size(converted) - np.isfinite(converted).sum())
        if np.isfinite(array).all():  # finite before the conversion: it overflowed
            raise ValueError(f"{where}: {argument} has {bad} value(s) too large for "
                             f"{np.dtype(dtype).name} (they overflow to inf); scale it first.")
        raise ValueError(f"{where}: {argument} contains {bad} NaN or infinite value(s); "
                         "clean or impute them before training.")
    return converted


def _all_finite(values):
    """``all_finite`` over 1-D ``values``, a large array in two halves on two threads:
    the check is bound by memory reads, which two cores do about twice as fast (10 ->
    5 ms on the 60,000 x 784 float32 Fashion-MNIST training set)."""
    if values.size < _TWO_THREADS_FROM or numba.get_num_threads() < 2:
        return all_finite(values)
    half = values.size // 2
    second = _threads.pool().submit(all_finite, values[half:])
    first = all_finite(values[:half])
    return second.result() and first


def callable_or_none(where, argument, value):
    """A function (any callable) or None."""
    if value is not None and not callable(value):
        raise TypeError(f"{where}: {argument} must be a function or None, got "
                        f"{type(value).__name__} {value!r}.")
    return value


def file_path(where, argument, value):
    """A str or path-like (not bytes, not None), as a str."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{where}: {argument} must be a str or path-like, got "
                        f"{type(value).__name__} {value!r}.")
    path = os.fspath(value)
    if not isinstance(path, str):  # a PathLike whose __fspath__ gives bytes
        raise TypeError(f"{where}: {argument} must be a str or path-like giving a str, got "
                        f"{type(path).__name__} {path!r}.")
    if not path:
        raise ValueError(f"{where}: {argument} must not be empty.")
    return path


def verbosity(where, value):
    """A verbose level: True/False or an int >= 0, as an int."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return positive_int(where, "verbose", value, allow_zero=True)
