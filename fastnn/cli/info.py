"""``fastnn info``: versions, BLAS libraries, thread counts, CUDA availability."""
import importlib.metadata
import os
import platform

from threadpoolctl import threadpool_info

from .. import __version__
from ..kernels import blas


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _blas_lines():
    pools = threadpool_info()
    if not pools:
        return ["  (none loaded)"]
    return [f"  {p['user_api']}: {p['internal_api']} {p.get('version') or ''} "
            f"({p.get('architecture') or 'unknown arch'}, {p['num_threads']} threads, "
            f"{p.get('threading_layer') or 'unknown'} threading) {p['filepath']}"
            for p in pools]


def _cuda_line():
    from .. import _cuda
    if not _cuda.is_available():
        return "CUDA: not available (no numba.cuda GPU; NUMBA_ENABLE_CUDASIM=1 runs the simulator)"
    if _cuda.simulator_enabled():
        return "CUDA: simulator (NUMBA_ENABLE_CUDASIM=1)"
    device = _cuda.cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    return f"CUDA: available, {name}"


def run_info(args):
    """``fastnn info``: versions, BLAS, threads, CUDA. Returns 0."""
    import numba
    print(f"fastnn {__version__} (python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()})")
    for name in ("numpy", "numba", "scipy", "mkl", "threadpoolctl", "tqdm", "torch",
                 "scikit-learn", "jax", "keras"):
        print(f"  {name:<14}{_version(name)}")
    print(f"kernels' BLAS: {blas.PROVIDER} (FASTNN_BLAS="
          f"{os.environ.get('FASTNN_BLAS', 'auto')}; CPU {blas.cpu_vendor() or 'unknown'}; "
          "auto picks MKL on Intel CPUs only)")
    print("BLAS and OpenMP libraries (threadpoolctl):")
    print("\n".join(_blas_lines()))
    print(f"threads: {os.cpu_count()} CPU cores; Numba {numba.get_num_threads()} of "
          f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS} "
          f"(threading layer: {numba.config.THREADING_LAYER})")
    print(_cuda_line())
    return 0
