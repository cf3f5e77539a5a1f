"""The one place fastnn reaches Numba's CUDA target.

The import itself lives in ``fastnn.kernels.cuda._backend`` (kernels never import
fastnn); this module adds the checks the API runs before it touches a device.
"""
import contextlib
import warnings

from numba import config

try:
    from .kernels.cuda._backend import cuda
except ImportError as error:  # pragma: no cover - a Numba without its CUDA target
    cuda = None
    _IMPORT_ERROR = str(error)
else:
    _IMPORT_ERROR = None


def simulator_enabled():
    """True when Numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1`` at import)."""
    return bool(config.ENABLE_CUDASIM)


def is_available():
    """True when CUDA kernels can run: a usable NVIDIA GPU, or the simulator.

    Returns
    -------
    bool
        False when ``numba.cuda`` cannot be imported, or finds no GPU and driver
        while the simulator is off.
    """
    if cuda is None:
        return False
    if simulator_enabled():
        return True
    try:
        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - driver probing failed in some other way
        return False


def require_cuda(where):
    """Return ``numba.cuda``, or raise a RuntimeError saying why it cannot run.

    Parameters
    ----------
    where : str
        The caller, named first in the message, e.g. ``"compile(device='cuda')"``.

    Returns
    -------
    module
        ``numba.cuda``.

    Raises
    ------
    RuntimeError
        When neither a CUDA GPU nor the CUDA simulator is available.

    Examples
    --------
    >>> from fastnn._cuda import require_cuda
    >>> cuda = require_cuda("compile(device='cuda')")  # doctest: +SKIP
    """
    if cuda is None:
        raise RuntimeError(
            f"{where}: Numba's CUDA target (numba.cuda) could not be imported "
            f"({_IMPORT_ERROR}); install the 'cuda' extra (pip install 'fastnn-mlp[cuda]') "
            "on a machine with an NVIDIA GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 "
            "to run on the simulator")
    if not is_available():
        raise RuntimeError(
            f"{where}: no CUDA GPU was found (numba.cuda.is_available() is False) and "
            "the CUDA simulator is off; install the 'cuda' extra on a machine with an "
            "NVIDIA GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 to run on the simulator")
    return cuda


@contextlib.contextmanager
def quiet_occupancy_warnings():
    """Silence Numba's "Grid size N will likely result in GPU under-utilization"
    warning inside the block: small batches launch small grids by design, and the
    warning would otherwise print from every new launch shape of a fit.

    Examples
    --------
    >>> with quiet_occupancy_warnings():  # doctest: +SKIP
    ...     network.train_epoch(...)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Grid size \d+ will likely result in GPU")
        yield
