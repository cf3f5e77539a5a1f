"""A spin barrier for threads that share one compiled kernel (Python threads calling
``nogil`` kernels): atomics on an int64 array, written as Numba intrinsics.

Why not ``prange``: a parallel region per mini-batch costs tens of microseconds to
open and join here (a 32-row batch takes ~100 us), while a barrier between two
threads already inside the kernel costs well under one.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel

_SPINS_BEFORE_YIELD = 2000  # then give the core away: the other thread may be descheduled


def element_pointer(context, builder, array_type, array, index):
    """Codegen: the address of array[index] (array[index, 0, ...] past 1-D)."""
    proxy = context.make_array(array_type)(context, builder, array)
    zero = context.get_constant(types.intp, 0)
    indices = [index] + [zero] * (array_type.ndim - 1)
    return cgutils.get_item_pointer(context, builder, array_type, proxy, indices)


@intrinsic
def atomic_add(typingctx, array, index, value):
    """array[index] += value atomically (sequentially consistent); returns the old value."""

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return types.int64(types.int64[::1], types.intp, types.int64), codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """array[index], read with acquire ordering (never hoisted out of a loop)."""

    def codegen(context, builder, signature, args):
        pointer = element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(types.int64[::1], types.intp), codegen


@intrinsic
def _yield_core(typingctx):
    """sched_yield(): let the OS run another thread on this core."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(function, [])
        return context.get_dummy_value()

    return types.none(), codegen


@kernel(internal=True)
def _barrier(sync, workers):
    """Wait until all ``workers`` threads have called barrier on ``sync``.

    sync: int64 (2,) zeros, shared: [threads arrived, generation]. Writes made before
    the barrier are visible to every thread after it. A single worker returns at once.
    """
    if workers == 1:
        return
    generation = atomic_load(sync, 1)
    if atomic_add(sync, 0, 1) == workers - 1:
        atomic_add(sync, 0, -workers)
        atomic_add(sync, 1, 1)
        return
    spins = 0
    while atomic_load(sync, 1) == generation:
        spins += 1
        if spins >= _SPINS_BEFORE_YIELD:
            _yield_core()
