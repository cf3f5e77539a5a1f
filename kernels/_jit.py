"""The one jit configuration every CPU kernel uses.

``error_model="numpy"``: float division by zero gives inf/nan instead of a Python
exception; the exception check would sit in every inner loop and block SIMD.
``cache=True`` and ``nogil=True`` everywhere (predict may run from several threads).
"""
from numba import njit

# fastmath without nnan/ninf, so divergence checks (isfinite) keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def kernel(function=None, **options):
    """``njit`` with the project's options; usable bare or with extra options."""
    settings = dict(cache=True, nogil=True, error_model="numpy")
    settings.update(options)
    if function is None:
        return njit(**settings)
    return njit(**settings)(function)
