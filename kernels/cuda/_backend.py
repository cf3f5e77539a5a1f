"""The one import of Numba's CUDA target for the kernels (``fastnn._cuda`` reuses it).

``numba.cuda`` is Numba's built-in CUDA target, or NVIDIA's ``numba-cuda`` package
when it is installed (same import name; the ``cuda`` extra installs it). With
``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported, it is Numba's pure-Python
simulator, which runs every kernel here on the CPU (slowly) without a GPU.
"""
try:
    from numba import cuda
except ImportError as error:  # pragma: no cover - a Numba built without its CUDA target
    raise ImportError(
        "fastnn.kernels.cuda: Numba's CUDA target (numba.cuda) could not be imported "
        f"({error}); install the 'cuda' extra (pip install 'fastnn-mlp[cuda]')") from error

__all__ = ["cuda"]
