"""A 2-D view of a run of a flat buffer, made without a call into Numba's runtime.

``buffer[offset:offset + rows * width].reshape((rows, width))`` compiles to a call of
Numba's C helper ``numba_attempt_nocopy_reshape`` for every view, ~20-30 ns; a small
network's batch takes a few dozen views of the parameters and the workspace (4% of
the seed's 3-4-1 network's time in one ``perf`` profile). Compiled, ``matrix_view``
builds the same view in place: data pointer, shape and C-contiguous strides. From
Python (the CUDA drivers, ``NUMBA_DISABLE_JIT``) it is that slice and reshape.
"""
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import lower_builtin, type_callable
from numba.np.arrayobj import make_array, populate_array


def matrix_view(buffer, offset, rows, width):
    """(rows, width) C-contiguous view of buffer[offset:offset + rows * width].

    buffer: 1-D, C-contiguous. Compiled, the caller guarantees that the run lies
    inside ``buffer``: no bounds are checked, as with the pointers BLAS takes.
    """
    return buffer[offset:offset + rows * width].reshape((rows, width))


@type_callable(matrix_view)
def _matrix_view_type(context):
    def typer(buffer, offset, rows, width):
        if (isinstance(buffer, types.Array) and buffer.ndim == 1 and buffer.layout == "C"
                and all(isinstance(n, types.Integer) for n in (offset, rows, width))):
            return types.Array(buffer.dtype, 2, "C")
        return None

    return typer


@lower_builtin(matrix_view, types.Array, types.Integer, types.Integer, types.Integer)
def _matrix_view_lowered(context, builder, signature, args):
    """The view as the array struct, written in place (the caller's code, no call)."""
    buffer_type, view_type = signature.args[0], signature.return_type
    source = make_array(buffer_type)(context, builder, value=args[0])
    offset, rows, width = (context.cast(builder, value, kind, types.intp)
                           for value, kind in zip(args[1:], signature.args[1:]))
    itemsize = context.get_constant(
        types.intp, context.get_abi_sizeof(context.get_data_type(buffer_type.dtype)))
    view = make_array(view_type)(context, builder)
    populate_array(view, data=cgutils.gep_inbounds(builder, source.data, offset),
                   shape=[rows, width], strides=[builder.mul(width, itemsize), itemsize],
                   itemsize=itemsize, meminfo=source.meminfo, parent=source.parent)
    # Borrowed from the buffer: with Numba's runtime on, the view holds a reference.
    return impl_ret_borrowed(context, builder, view_type, view._getvalue())
