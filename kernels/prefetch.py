"""Software prefetch: start loading a cache line a few iterations before its use.

A mini-batch's targets and sample weights sit at random places in arrays that the
epoch's stream of inputs keeps evicting from the cache, so each row's label and
weight is a cache miss. Read where the loss loop needs them, those misses wait one
after another behind each row's arithmetic; prefetched a few rows ahead, they
overlap with it. A prefetch has no effect on results and never faults.
"""
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .sync import element_pointer


@intrinsic
def _prefetch_element(typingctx, array, index):
    """Prefetch the cache line of array[index, 0, ...] for reading (llvm.prefetch)."""

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, signature.args[0], args[0], args[1])
        pointer = builder.bitcast(pointer, cgutils.voidptr_t)
        i32 = ir.IntType(32)
        function = builder.module.declare_intrinsic(
            "llvm.prefetch", [pointer.type],
            ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32]))
        # read, keep in every cache level, data cache
        builder.call(function, [pointer, ir.Constant(i32, 0), ir.Constant(i32, 3),
                                ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(array, types.intp), codegen


@kernel(inline="always")
def prefetch_row(array, row):
    """Prefetch the first cache line of row ``row`` of ``array`` (any ndim; nothing
    for an empty array)."""
    if array.shape[0] > 0:
        _prefetch_element(array, row)


if config.DISABLE_JIT:  # pragma: no cover - plain Python has no prefetch
    def prefetch_row(array, row):  # noqa: F811
        """No-op stand-in under ``NUMBA_DISABLE_JIT``."""
