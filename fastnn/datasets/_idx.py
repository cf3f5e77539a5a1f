"""Reader for the IDX binary format used by MNIST-style datasets.

An IDX file is a 4-byte magic number, one big-endian ``uint32`` per
dimension, then the array payload in C order and big-endian byte order.
The magic number is ``0x0000TTNN``: two zero bytes, a type code ``TT`` and
the number of dimensions ``NN``.  The files are usually distributed gzipped.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import Final

import numpy as np

__all__ = ["IDX_DTYPES", "load_idx"]

#: Map from the IDX type code (third byte of the magic number) to the
#: big-endian NumPy dtype of the payload.
IDX_DTYPES: Final[dict[int, np.dtype]] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}

_GZIP_MAGIC: Final = b"\x1f\x8b"
_DIM_BYTES: Final = 4


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return the (decompressed, if gzipped) contents of ``path``."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        # EOFError: stream cut short; BadGzipFile (an OSError): bad header or
        # CRC/length trailer; zlib.error: corrupt deflate data.
        raise ValueError(
            f"invalid IDX file {os.fspath(path)!r}: "
            f"corrupt or truncated gzip data ({exc})"
        ) from exc


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        The file to read.  Gzip compression is detected from the file's
        first two bytes (``1f 8b``), not from its name, so both
        ``train-images-idx3-ubyte`` and ``train-images-idx3-ubyte.gz``
        work whatever their content.

    Returns
    -------
    numpy.ndarray
        A new, writable array in native byte order, with the shape given by
        the file's dimension header and the dtype given by its type code:
        ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
        ``0x0D`` float32, ``0x0E`` float64.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid IDX file: truncated or corrupt gzip data,
        a magic number whose first two bytes are not zero, an unknown type
        code, a header cut short, or a payload whose size differs from what
        the dimensions require.  The message names the file and the fault.

    Examples
    --------
    >>> from fastnn.datasets import load_idx
    >>> labels = load_idx("t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> labels.shape, labels.dtype  # doctest: +SKIP
    ((10000,), dtype('uint8'))
    """
    data = _read_bytes(path)
    where = f"invalid IDX file {os.fspath(path)!r}"

    if len(data) < 4:
        raise ValueError(
            f"{where}: {len(data)} bytes is too short for the 4-byte magic number"
        )
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{where}: bad magic number 0x{magic:08X} "
            "(the first two bytes of an IDX file must be zero)"
        )
    type_code, ndim = data[2], data[3]
    try:
        dtype = IDX_DTYPES[type_code]
    except KeyError:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise ValueError(
            f"{where}: unknown data type code 0x{type_code:02X} in magic number "
            f"0x{magic:08X} (expected one of {known})"
        ) from None

    header_size = 4 + _DIM_BYTES * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{where}: header declares {ndim} dimensions ({header_size} header "
            f"bytes) but the data is only {len(data)} bytes long"
        )
    shape = tuple(
        int.from_bytes(data[offset : offset + _DIM_BYTES], "big")
        for offset in range(4, header_size, _DIM_BYTES)
    )
    count = math.prod(shape)  # exact: no overflow for absurd headers
    expected = count * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{where}: payload {problem}: dimensions {shape} of {dtype.name} "
            f"need {expected} bytes after the {header_size}-byte header, "
            f"found {actual}"
        )

    array = np.frombuffer(data, dtype=dtype, count=count, offset=header_size)
    # astype copies: the result is writable, owns its memory and is native-endian.
    return array.reshape(shape).astype(dtype.newbyteorder("="))
