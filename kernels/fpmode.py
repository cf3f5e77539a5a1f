"""Flush-to-zero for the duration of a kernel call (x86-64; a no-op elsewhere).

Denormal floats (below 1.2e-38 in float32) cost ~100 cycles per operation on x86.
Training produces them in corners no check can cover (Adam's ``(1 - beta_2) * g**2``
for small g, a decayed first moment times the step size, softmax tails), and one
Adam epoch of the seed network measured 0.43 s with them and 0.25 s with the
MXCSR's flush-to-zero and denormals-are-zero bits set, as XLA runs. Entry kernels
set the bits on their thread and put the caller's mode back before returning,
so Python and NumPy code never see the change.
"""
import platform

from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")
FLUSH_TO_ZERO = 0x8040  # MXCSR bits: FTZ (15) and DAZ (6)
# Whether kernels run with denormals flushed (else they must flush what may decay).
FLUSHES_DENORMALS = _X86


@intrinsic
def _swap_mxcsr(typingctx, set_bits, restore, previous):
    """Read the MXCSR; write previous (restore) or MXCSR | set_bits. Returns the old value."""

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        if not _X86:
            return ir.Constant(ir.IntType(64), 0)
        void_fn = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t])
        store = cgutils.get_or_insert_function(builder.module, void_fn, "llvm.x86.sse.stmxcsr")
        load = cgutils.get_or_insert_function(builder.module, void_fn, "llvm.x86.sse.ldmxcsr")
        old_slot = cgutils.alloca_once(builder, i32)
        builder.call(store, [builder.bitcast(old_slot, cgutils.voidptr_t)])
        old = builder.load(old_slot)
        wanted = builder.select(builder.icmp_unsigned("!=", args[1], ir.Constant(args[1].type, 0)),
                                builder.trunc(args[2], i32),
                                builder.or_(old, builder.trunc(args[0], i32)))
        new_slot = cgutils.alloca_once(builder, i32)
        builder.store(wanted, new_slot)
        builder.call(load, [builder.bitcast(new_slot, cgutils.voidptr_t)])
        return builder.zext(old, ir.IntType(64))

    return types.int64(types.int64, types.boolean, types.int64), codegen


@kernel(inline="always")
def flush_denormals():
    """Set flush-to-zero on this thread; returns the mode to give to ``restore_mode``."""
    return _swap_mxcsr(FLUSH_TO_ZERO, False, 0)


@kernel(inline="always")
def restore_mode(previous):
    """Put back the floating-point mode saved by ``flush_denormals``."""
    _swap_mxcsr(0, True, previous)


if config.DISABLE_JIT:  # pragma: no cover - plain Python cannot reach the MXCSR
    def flush_denormals():  # noqa: F811
        """No-op stand-in under ``NUMBA_DISABLE_JIT``."""
        return 0

    def restore_mode(previous):  # noqa: F811
        """No-op stand-in under ``NUMBA_DISABLE_JIT``."""
