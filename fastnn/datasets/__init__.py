"""Datasets for fastnn, loaded the way ``keras.datasets`` loads them.

>>> from fastnn.datasets import fashion_mnist  # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # doctest: +SKIP

Files are searched locally first (an explicit ``path=``, ``$FASTNN_DATA``,
system directories such as the one Debian's ``dataset-fashion-mnist``
package installs, the user cache) and downloaded into the user cache, with
SHA-256 verification, only when missing.  :func:`load_idx` reads any IDX
file, gzipped or not.
"""

from . import fashion_mnist, mnist
from ._idx import IDX_DTYPES, load_idx
from ._loader import ChecksumError, DatasetNotFoundError, cache_dir

__all__ = [
    "IDX_DTYPES",
    "ChecksumError",
    "DatasetNotFoundError",
    "cache_dir",
    "fashion_mnist",
    "load_idx",
    "mnist",
]
