"""Dense layer passes on the device: shared-memory tiled GEMMs with fused epilogues.

W is stored (units, inputs) row-major, as on the CPU. Every ``*_tiles`` kernel runs
on a 2-D grid of TILE x TILE blocks (``launch.tile_grid`` of its output): thread
(ty, tx) of block (by, bx) owns output element (by*TILE + ty, bx*TILE + tx) and walks
the reduction axis in ceil(K / TILE) steps, staging one TILE x TILE tile of each
operand in shared memory (loads outside the matrices read zero; stores are guarded).
The reduction runs in index order, one output per thread: no atomics, so results do
not depend on the launch shape. ``dense_forward``/``dense_backward`` are host-side
launchers with the CPU twins' signatures.
"""
from ._backend import cuda

from ..codes import LEAKY_RELU_SLOPE, SOFTMAX
from .activations import activate, derivative, softmax_backward_rows, softmax_rows
from .launch import TILE, line_grid, tile_grid

# Tiles read down a column get one spare column, so a warp's reads fall in distinct
# shared-memory banks. A module constant: shared-array shapes must be compile-time.
PADDED = TILE + 1


@cuda.jit(cache=True)
def forward_tiles(out, x, w, b, activation):
    """out = f(x @ W.T + b); for softmax only x @ W.T + b (``softmax_rows`` follows).

    out: (n, units) overwritten; x: (n, inputs); w: (units, inputs); b: (units,) or
    empty. Reduction over inputs; parallel over out's elements.
    """
    xs = cuda.shared.array((TILE, TILE), dtype=x.dtype)      # xs[r, k] = x[row0+r, k0+k]
    ws = cuda.shared.array((TILE, PADDED), dtype=x.dtype)  # ws[c, k] = w[col0+c, k0+k]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row0 = cuda.blockIdx.y * TILE
    col0 = cuda.blockIdx.x * TILE
    n, units = out.shape
    inputs = x.shape[1]
    zero = out.dtype.type(0)
    acc = zero
    for k0 in range(0, inputs, TILE):
        k = k0 + tx
        r = row0 + ty
        c = col0 + ty
        xs[ty, tx] = x[r, k] if r < n and k < inputs else zero
        ws[ty, tx] = w[c, k] if c < units and k < inputs else zero
        cuda.syncthreads()
        for kk in range(TILE):
            acc += xs[ty, kk] * ws[tx, kk]
        cuda.syncthreads()
    row = row0 + ty
    col = col0 + tx
    if row < n and col < units:
        if b.shape[0] > 0:
            acc += b[col]
        out[row, col] = activate(acc, activation, zero, out.dtype.type(1),
                                 out.dtype.type(LEAKY_RELU_SLOPE))


@cuda.jit(cache=True)
def weight_grad_tiles(dw, dout, x):
    """dw = dout.T @ x. dw: (units, inputs) overwritten; dout: (n, units); x: (n, inputs).

    Reduction over the batch rows; parallel over dw's elements.
    """
    ds = cuda.shared.array((TILE, PADDED), dtype=dw.dtype)  # ds[r, u] = dout[n0+r, u0+u]
    xs = cuda.shared.array((TILE, TILE), dtype=dw.dtype)      # xs[r, k] = x[n0+r, k0+k]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    u0 = cuda.blockIdx.y * TILE
    k0 = cuda.blockIdx.x * TILE
    units, inputs = dw.shape
    n = dout.shape[0]
    zero = dw.dtype.type(0)
    acc = zero
    for n0 in range(0, n, TILE):
        r = n0 + ty
        u = u0 + tx
        k = k0 + tx
        ds[ty, tx] = dout[r, u] if r < n and u < units else zero
        xs[ty, tx] = x[r, k] if r < n and k < inputs else zero
        cuda.syncthreads()
        for rr in range(TILE):
            acc += ds[rr, ty] * xs[rr, tx]
        cuda.syncthreads()
    u = u0 + ty
    k = k0 + tx
    if u < units and k < inputs:
        dw[u, k] = acc


@cuda.jit(cache=True)
def input_grad_tiles(dx, dout, w, a, activation):
    """dx = (dout @ W) * f'(a), f' from the saved input activation a = f(z).

    dx, a: (n, inputs), dx overwritten; dout: (n, units); w: (units, inputs). For a
    softmax input layer dx is left as dout @ W (``softmax_backward_rows`` follows).
    Reduction over units; parallel over dx's elements.
    """
    ds = cuda.shared.array((TILE, TILE), dtype=dx.dtype)  # ds[r, u] = dout[row0+r, u0+u]
    ws = cuda.shared.array((TILE, TILE), dtype=dx.dtype)  # ws[u, k] = w[u0+u, k0+k]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row0 = cuda.blockIdx.y * TILE
    k0 = cuda.blockIdx.x * TILE
    n, inputs = dx.shape
    units = dout.shape[1]
    zero = dx.dtype.type(0)
    acc = zero
    for u0 in range(0, units, TILE):
        r = row0 + ty
        u = u0 + tx
        ds[ty, tx] = dout[r, u] if r < n and u < units else zero
        u = u0 + ty
        k = k0 + tx
        ws[ty, tx] = w[u, k] if u < units and k < inputs else zero
        cuda.syncthreads()
        for uu in range(TILE):
            acc += ds[ty, uu] * ws[uu, tx]
        cuda.syncthreads()
    row = row0 + ty
    k = k0 + tx
    if row < n and k < inputs:
        dx[row, k] = derivative(acc, a[row, k], activation, zero, dx.dtype.type(1),
                                dx.dtype.type(LEAKY_RELU_SLOPE))


@cuda.jit(cache=True)
def column_sums(db, dout):
    """db = sum over rows of dout. db: (units,) overwritten; dout: (n, units).

    One thread per column, rows summed in order (no atomics).
    """
    j = cuda.grid(1)
    if j < db.shape[0]:
        total = db.dtype.type(0)
        for i in range(dout.shape[0]):
            total += dout[i, j]
        db[j] = total


def dense_forward(out, x, w, b, activation):
    """out = f(x @ W.T + b) on the device (host-side launcher, CPU twin's signature).

    out: (n, units) overwritten; x: (n, inputs); w: (units, inputs); b: (units,) or
    empty; all device arrays of one dtype. Softmax adds a row pass.
    """
    activation = int(activation)
    grid, block = tile_grid(out.shape[0], out.shape[1])
    forward_tiles[grid, block](out, x, w, b, activation)
    if activation == SOFTMAX:
        grid, block = line_grid(out.shape[0])
        softmax_rows[grid, block](out)


def dense_backward(dx, dw, db, dout, x, w, x_activation):
    """One layer's gradients from dout = dL/dz (n, units), on the device (launcher).

    dw = dout.T @ x (units, inputs) and db = column sums of dout (units,) are
    overwritten (db skipped when empty); dx = (dout @ W) * f'(x) (n, inputs) is
    overwritten unless dx is None or empty (the first layer). ``x_activation`` is
    the code of the activation that produced x.
    """
    grid, block = tile_grid(dw.shape[0], dw.shape[1])
    weight_grad_tiles[grid, block](dw, dout, x)
    if db.shape[0] > 0:
        grid, block = line_grid(db.shape[0])
        column_sums[grid, block](db, dout)
    if dx is not None and dx.shape[0] > 0:
        x_activation = int(x_activation)
        grid, block = tile_grid(dx.shape[0], dx.shape[1])
        input_grad_tiles[grid, block](dx, dout, w, x, x_activation)
        if x_activation == SOFTMAX:
            grid, block = line_grid(dx.shape[0])
            softmax_backward_rows[grid, block](dx, x)
