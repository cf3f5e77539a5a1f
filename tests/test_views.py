"""``kernels.views.matrix_view``: the compiled in-place view is the slice and reshape
it stands for, from kernels without Numba's runtime and from code with it."""
import gc

import numpy as np
import pytest
from numba import njit

from fastnn.kernels._jit import kernel
from fastnn.kernels.views import matrix_view


@kernel
def _scale_view(buffer, offset, rows, width, factor):
    view = matrix_view(buffer, offset, rows, width)
    for i in range(rows):
        for j in range(width):
            view[i, j] *= factor


@njit
def _view_with_runtime(buffer, offset, rows, width):
    return matrix_view(buffer, offset, rows, width)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset, rows, width", [(0, 3, 4), (5, 2, 7), (13, 1, 1), (4, 0, 3)])
def test_the_compiled_view_is_the_slice_reshaped(dtype, offset, rows, width):
    buffer = np.arange(30, dtype=dtype)
    expected = buffer.copy()
    expected[offset:offset + rows * width] *= 3
    _scale_view(buffer, offset, rows, width, dtype(3))
    np.testing.assert_array_equal(buffer, expected)
    assert matrix_view(buffer, offset, rows, width).shape == (rows, width)


def test_a_view_returned_through_the_runtime_keeps_its_buffer_alive():
    view = _view_with_runtime(np.arange(12.0), 2, 2, 5)
    gc.collect()
    np.testing.assert_array_equal(view, np.arange(2.0, 12.0).reshape(2, 5))
    assert view.flags.c_contiguous and view.strides == (40, 8)
