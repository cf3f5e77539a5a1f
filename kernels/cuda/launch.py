"""Launch configurations for every CUDA kernel, in one place.

Each helper returns ``(grid, block)`` for ``kernel[grid, block](...)``. Block sizes
shrink to a whole number of warps when there is less work (a batch of 8 rows gets
one warp, not 128 idle threads), which also keeps the simulator fast.
"""
TILE = 16             # GEMM tile edge: TILE x TILE threads per block, one output each
WARP = 32
ROW_THREADS = 128     # one-thread-per-row / per-column kernels
FLAT_THREADS = 256    # grid-stride kernels over flat buffers
MAX_FLAT_BLOCKS = 4096
REDUCE_THREADS = 128  # the single block of a reduction; a power of two


def _ceil_div(a, b):
    return (a + b - 1) // b


def _warps(count, limit):
    """Threads per block: ``count`` rounded up to whole warps, at most ``limit``."""
    return min(limit, max(WARP, _ceil_div(count, WARP) * WARP))


def tile_grid(rows, cols):
    """2-D grid of TILE x TILE blocks covering a (rows, cols) output; x walks columns."""
    return (max(1, _ceil_div(cols, TILE)), max(1, _ceil_div(rows, TILE))), (TILE, TILE)


def line_grid(count):
    """1-D grid with one thread per row (or column) of ``count``."""
    threads = _warps(count, ROW_THREADS)
    return (max(1, _ceil_div(count, threads)),), (threads,)


def flat_grid(size):
    """1-D grid-stride launch over ``size`` elements (grid capped at MAX_FLAT_BLOCKS)."""
    threads = _warps(size, FLAT_THREADS)
    return (min(MAX_FLAT_BLOCKS, max(1, _ceil_div(size, threads))),), (threads,)


def reduce_grid(count):
    """One block whose thread count is a power of two (warp to REDUCE_THREADS)."""
    threads = WARP
    while threads < min(count, REDUCE_THREADS):
        threads *= 2
    return (1,), (threads,)
