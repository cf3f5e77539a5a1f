"""Software prefetch: start loading a cache line a few iterations before its use.

A mini-batch's targets and sample weights sit at random places in arrays that the
epoch's stream of inputs keeps evicting from the cache, so each row's label and
weight is a cache miss. Read where the loss loop needs them, those misses wait one
after another behind each row's arithmetic; prefetched a few rows ahead, they
overlap with it. Likewise each input row the mini-batch gathers starts at a random
place: fetching its first lines two rows early starts the hardware prefetcher on
it. A prefetch has no effect on results and never faults.
"""
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .sync import element_pointer

_LINE_BYTES = 64  # x86's cache line; where lines are longer, some prefetches repeat


@intrinsic
def _prefetch_element(typingctx, array, index, offset):
    """Prefetch the cache line holding the element ``offset`` elements past
    array[index, 0, ...], for reading (llvm.prefetch)."""

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, signature.args[0], args[0], args[1])
        pointer = builder.bitcast(builder.gep(pointer, [args[2]]), cgutils.voidptr_t)
        i32 = ir.IntType(32)
        function = builder.module.declare_intrinsic(
            "llvm.prefetch", [pointer.type],
            ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32]))
        # read, keep in every cache level, data cache
        builder.call(function, [pointer, ir.Constant(i32, 0), ir.Constant(i32, 3),
                                ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(array, types.intp, types.intp), codegen


@kernel(inline="always")
def prefetch_row(array, row):
    """Prefetch the first cache line of row ``row`` of ``array`` (any ndim; nothing
    for an empty array)."""
    if array.shape[0] > 0:
        _prefetch_element(array, row, 0)


@kernel(inline="always")
def prefetch_row_head(array, row, lines):
    """Prefetch the first ``lines`` cache lines of row ``row`` of a 2-D array: enough
    to start the hardware prefetcher streaming the rest of the row."""
    step = _LINE_BYTES // array.itemsize
    for line in range(min(lines, -(-array.shape[1] // step))):
        _prefetch_element(array, row, line * step)


if config.DISABLE_JIT:  # pragma: no cover - plain Python has no prefetch
    def prefetch_row(array, row):  # noqa: F811
        """No-op stand-in under ``NUMBA_DISABLE_JIT``."""

    def prefetch_row_head(array, row, lines):  # noqa: F811
        """No-op stand-in under ``NUMBA_DISABLE_JIT``."""
