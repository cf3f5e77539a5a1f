"""Row-major GEMM callable from inside ``@njit`` code, without allocation.

The matrix products go to a Fortran-ABI BLAS, called through external symbols that
Numba compiles into a direct call (and caches); the symbols are bound to a library
when this module is imported, so cached kernels serve either library:

- MKL, on Intel CPUs when the ``mkl`` package is installed (``pip install
  fastnn-mlp[mkl]``; Linux), through its single-threaded layer: the kernels run their own
  threads. At the seed network's shapes it was 1.3-1.6x faster than OpenBLAS on an
  Intel Xeon's AVX-512 cores (512 x 784 x 64: 314 us against 432).
- otherwise the OpenBLAS that SciPy ships (``scipy.linalg.cython_blas``). On an AMD
  EPYC (Zen 4) MKL ran every one of the network's products at ~80 GFLOP/s a core,
  OpenBLAS at 110-190: 1.4-2.2x faster.

``FASTNN_BLAS=scipy`` or ``=mkl`` forces one (default ``auto``: the rule above);
``PROVIDER`` says which is in use. Measured on the seed network (784-64-64-10): BLAS
was 2.5-5x faster than explicit loops at every batch size, and unlike ``np.dot`` it
writes into a preallocated output and can accumulate (``beta=1``).

Small products of a fixed shape (a layer's per-model products in ``fit_many``) can
also run MKL's JIT-generated kernels (``small_product``/``_fixed_gemm``): MKL
writes one routine per shape, called without the general GEMM's argument checks
and dispatch. At 32 x 32 x 32 float32 the three products of a layer's step took
2.8 us against 4.0-4.8 us as general GEMM calls.

Under ``NUMBA_DISABLE_JIT=1`` (coverage runs) the same function falls back to NumPy.
"""
import ctypes
import functools
import importlib.metadata
import os

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic
from threadpoolctl import threadpool_info

from ._jit import kernel

_MKL_THREADING_SEQUENTIAL = 1
_MKL_INTERFACE_LP64 = 0  # 32-bit integer arguments, as passed below


def _mkl_library():
    """MKL's runtime library set to its single-threaded, 32-bit-integer layers, or
    None when the ``mkl`` package is absent or unloadable, or when MKL is already
    loaded in this process (say, by an MKL build of NumPy): its threading layer is
    then that library's to choose, and fastnn leaves it alone."""
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = sorted(str(f.locate()) for f in files if f.name.startswith("libmkl_rt.so"))
    if not paths or any(pool["internal_api"] == "mkl" for pool in threadpool_info()):
        return None
    try:
        library = ctypes.CDLL(os.path.realpath(paths[0]))
        sequential = library.MKL_Set_Threading_Layer(_MKL_THREADING_SEQUENTIAL)
        lp64 = library.MKL_Set_Interface_Layer(_MKL_INTERFACE_LP64)
    except (OSError, AttributeError):  # a broken install: fall back, never fail import
        return None
    if sequential != _MKL_THREADING_SEQUENTIAL or lp64 != _MKL_INTERFACE_LP64:
        return None
    return library


def cpu_vendor():
    """The CPU's vendor string (``"GenuineIntel"``, ``"AuthenticAMD"``, ...), or ``""``
    where ``/proc/cpuinfo`` does not say."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


def _wants_mkl(choice, vendor):
    """Whether ``FASTNN_BLAS=choice`` asks for MKL on a CPU from ``vendor``."""
    return choice == "mkl" or (choice == "auto" and vendor == "GenuineIntel")


def _bind_blas():
    """Bind the symbols ``fastnn_cython_blas_sgemm``/``_dgemm`` to MKL or SciPy's
    OpenBLAS (see the module docstring); returns the provider's name. The names date
    from SciPy-only days and stay: kernels cached under them keep linking."""
    choice = os.environ.get("FASTNN_BLAS", "auto").strip().lower() or "auto"
    if choice not in ("auto", "mkl", "scipy"):
        raise ValueError(f"FASTNN_BLAS must be 'auto', 'mkl' or 'scipy', got {choice!r}.")
    library = _mkl_library() if _wants_mkl(choice, cpu_vendor()) else None
    if choice == "mkl" and library is None:
        raise ImportError("FASTNN_BLAS=mkl, but MKL's libmkl_rt could not be loaded with its "
                          "sequential layer: pip install 'fastnn-mlp[mkl]' (Linux), or unset "
                          "FASTNN_BLAS.")
    for name in ("sgemm", "dgemm"):
        if library is not None:
            address = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
        else:
            address = get_cython_function_address("scipy.linalg.cython_blas", name)
        # A named symbol, not a baked-in address, keeps the compiled kernels cacheable.
        llvm.add_symbol("fastnn_cython_blas_" + name, address)
    _MKL_JIT["library"] = library
    return "mkl" if library is not None else "scipy-openblas"


_MKL_JIT = {}
PROVIDER = _bind_blas()


def other_choice():
    """The ``FASTNN_BLAS`` value naming the library this process did not bind, when
    both are usable here; else ``"scipy"`` (the test suite's second pass runs with it)."""
    if PROVIDER == "mkl":
        return "scipy"
    return "mkl" if _mkl_library() is not None else "scipy"


# OpenBLAS's AVX-512 ("SkylakeX") kernels multiply without packing the matrices first
# when m * n * k <= 100**3 (its gemm_small_kernel_permit). At the seed network's
# unit-split products (32 units x 784 inputs) that path ran 96-128 rows as 32-row
# blocks 15-30% faster than as one packed product, single and double precision; the
# Haswell and Zen kernels have no such path: there float32 blocks ran 3-73% slower
# (float64 between 15% faster and 15% slower).
_SMALL_PRODUCT_CORES = ("SkylakeX", "Cooperlake", "SapphireRapids")
_SMALL_PRODUCT_LIMIT = 100 ** 3
_SMALL_PRODUCT_STEP = 16  # rows per block: a multiple of this


@functools.cache
def _openblas_core():
    """The core type SciPy's OpenBLAS chose at load ("SkylakeX", "Haswell", ...; it
    follows OPENBLAS_CORETYPE), or "" when the kernels do not call SciPy's OpenBLAS."""
    if PROVIDER != "scipy-openblas":
        return ""
    for pool in threadpool_info():
        folder = os.path.basename(os.path.dirname(pool["filepath"]))
        if pool["internal_api"] == "openblas" and folder.startswith("scipy"):
            return pool.get("architecture") or ""
    return ""


def small_product_rows(units, inputs):
    """Rows per product that keep a (rows x inputs) @ (inputs x units) product on the
    BLAS's unpacked small-matrix path, or 0 where it has none (or none this wide):
    callers then run one product over all their rows."""
    if _openblas_core() not in _SMALL_PRODUCT_CORES:
        return 0
    rows = _SMALL_PRODUCT_LIMIT // max(int(units) * int(inputs), 1)
    return rows // _SMALL_PRODUCT_STEP * _SMALL_PRODUCT_STEP


def _fortran_call(symbol):
    """An intrinsic calling the Fortran-ABI routine ``symbol`` with a tuple of pointers."""

    @intrinsic
    def call(typingctx, pointers):
        def codegen(context, builder, signature, llvm_args):
            count = len(signature.args[0])
            fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] * count)
            fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
            builder.call(fn, [builder.extract_value(llvm_args[0], i) for i in range(count)])
            return context.get_dummy_value()

        return types.none(pointers), codegen

    return call


_sgemm = _fortran_call("fastnn_cython_blas_sgemm")
_dgemm = _fortran_call("fastnn_cython_blas_dgemm")


@intrinsic
def _by_ref(typingctx, value):
    """Pointer to a stack copy of a scalar (alloca in the entry block)."""

    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once_value(builder, args[0])
        return builder.bitcast(slot, cgutils.voidptr_t)

    return types.voidptr(value), codegen


@intrinsic
def _data_ptr(typingctx, array):
    """Pointer to an array's first element."""

    def codegen(context, builder, signature, args):
        proxy = cgutils.create_struct_proxy(signature.args[0])(
            context, builder, value=args[0])
        return builder.bitcast(proxy.data, cgutils.voidptr_t)

    return types.voidptr(array), codegen


_N = np.uint8(ord("N"))
_T = np.uint8(ord("T"))


@kernel(inline="always")
def _leading_dimension(x):
    """Elements between consecutive rows of a 2-D array whose rows are contiguous
    (a C-contiguous array, or a block of its columns); at least 1, as BLAS requires."""
    return np.int32(max(x.strides[0] // x.itemsize, x.shape[1], 1))


# Products of at most this many multiply-adds (m * n * k) run as plain loops: a BLAS
# call costs 110-150 ns before it multiplies anything (argument checks, choosing a
# kernel). Measured with MKL: 4 x 4 x 3 took 64 ns as loops and 131-139 ns through
# BLAS, 8 x 8 x 8 211-227 against 151-153 ns.
LOOP_PRODUCT_UP_TO = 128


@kernel(inline="always")
def _loop_product(c, a, b, trans_a, trans_b, alpha, beta):
    """``_gemm``'s contract as loops, for products too small for a BLAS call."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    scale = c.dtype.type(alpha)
    keep = c.dtype.type(beta)
    for i in range(m):
        for j in range(n):
            total = c.dtype.type(0)
            for p in range(k):
                total += (a[p, i] if trans_a else a[i, p]) * (b[j, p] if trans_b else b[p, j])
            value = scale * total
            if beta != 0:  # beta = 0 never reads C, as BLAS: it may hold NaN
                value += keep * c[i, j]
            c[i, j] = value


@kernel(internal=True)
def _gemm(c, a, b, trans_a, trans_b, alpha, beta):
    """C = alpha * op(A) @ op(B) + beta * C for 2-D arrays with contiguous rows.

    op(X) is X, or X.T when ``trans_x`` is True. ``c`` has shape (m, n) and is
    overwritten (``beta=0``) or accumulated into (``beta=1``); ``a``, ``b`` and
    ``c`` share one float dtype. Each may be C-contiguous or a column block of a
    C-contiguous array (its row stride is passed as the leading dimension).
    Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, so B goes
    first in the Fortran call.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    if m * n * k <= LOOP_PRODUCT_UP_TO:
        _loop_product(c, a, b, trans_a, trans_b, alpha, beta)
        return
    flag_a = _T if trans_a else _N
    flag_b = _T if trans_b else _N
    one_dtype_alpha = c.dtype.type(alpha)
    one_dtype_beta = c.dtype.type(beta)
    args = (
        _by_ref(flag_b), _by_ref(flag_a),
        _by_ref(np.int32(n)), _by_ref(np.int32(m)), _by_ref(np.int32(k)),
        _by_ref(one_dtype_alpha),
        _data_ptr(b), _by_ref(_leading_dimension(b)),
        _data_ptr(a), _by_ref(_leading_dimension(a)),
        _by_ref(one_dtype_beta),
        _data_ptr(c), _by_ref(_leading_dimension(c)),
    )
    if c.itemsize == 4:
        _sgemm(args)
    else:
        _dgemm(args)


if config.DISABLE_JIT:  # pragma: no cover - exercised by the NUMBA_DISABLE_JIT CI run
    def _gemm(c, a, b, trans_a, trans_b, alpha, beta):  # noqa: F811
        """NumPy stand-in with the same contract as the compiled ``gemm``."""
        product = (a.T if trans_a else a) @ (b.T if trans_b else b)
        c[...] = alpha * product + (beta * c if beta else 0)


_MKL_ROW_MAJOR = 101
_MKL_NO_TRANS, _MKL_TRANS = 111, 112
_MKL_JIT_ERROR = 2


@functools.cache
def small_product(dtype, trans_a, trans_b, m, n, k, lda, ldb, ldc):
    """(kernel, jitter) addresses of MKL's generated routine for the row-major
    product C (m, n) = op(A) @ op(B) with these leading dimensions, or (0, 0) where
    MKL is not the provider or cannot generate one: ``_fixed_gemm`` then calls the
    general GEMM. Generated once per shape and kept for the process's life (a
    forked child inherits the code with its memory)."""
    library = _MKL_JIT.get("library")
    if library is None or config.DISABLE_JIT:
        return 0, 0
    kind = "s" if np.dtype(dtype) == np.float32 else "d"
    scalar = ctypes.c_float if kind == "s" else ctypes.c_double
    try:
        create = getattr(library, f"mkl_cblas_jit_create_{kind}gemm")
        get = getattr(library, f"mkl_jit_get_{kind}gemm_ptr")
    except AttributeError:  # an MKL older than 2019: no JIT
        return 0, 0
    create.restype, get.restype = ctypes.c_int, ctypes.c_void_p
    get.argtypes = [ctypes.c_void_p]
    jitter = ctypes.c_void_p()
    flags = [_MKL_TRANS if t else _MKL_NO_TRANS for t in (trans_a, trans_b)]
    status = create(ctypes.byref(jitter), ctypes.c_int(_MKL_ROW_MAJOR),
                    *(ctypes.c_int(int(v)) for v in (*flags, m, n, k)), scalar(1.0),
                    ctypes.c_int(int(lda)), ctypes.c_int(int(ldb)), scalar(0.0),
                    ctypes.c_int(int(ldc)))
    if status == _MKL_JIT_ERROR or not jitter.value:
        return 0, 0
    return int(get(jitter)), int(jitter.value)


@intrinsic
def _call_generated(typingctx, routine, jitter, a, b, c):
    """Call the generated routine at address ``routine`` as routine(jitter, a, b, c)."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] * 4)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fn, [builder.inttoptr(args[1], cgutils.voidptr_t), *args[2:]])
        return context.get_dummy_value()

    return types.none(routine, jitter, a, b, c), codegen


@kernel(inline="always")
def _fixed_gemm(c, a, b, trans_a, trans_b, routine, rows):
    """C = op(A) @ op(B) as ``_gemm`` (alpha 1, beta 0), through ``routine`` =
    (rows, kernel, jitter), the generated kernel (``small_product``) for a batch of
    that many rows, when the batch has ``rows`` and the kernel exists. The caller
    guarantees the rest of the shape the kernel was made for. Otherwise, the
    general GEMM."""
    if routine[1] != 0 and routine[0] == rows:
        _call_generated(routine[1], routine[2], _data_ptr(a), _data_ptr(b), _data_ptr(c))
    else:
        _gemm(c, a, b, trans_a, trans_b, 1.0, 0.0)
