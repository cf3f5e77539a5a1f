"""MNIST: 70,000 28x28 grayscale images of handwritten digits 0-9.

The database of Yann LeCun, Corinna Cortes and Christopher J. C. Burges
(CC BY-SA 3.0).  Use :func:`load_data`, which mirrors
``keras.datasets.mnist``.

The module attributes below are read on every call, so they may be changed
at run time (for example to point at a local mirror).
"""

from __future__ import annotations

import os

import numpy as np

from . import _loader

__all__ = [
    "DEBIAN_PACKAGE",
    "DOWNLOAD_DEADLINE",
    "DOWNLOAD_TIMEOUT",
    "FILES",
    "MIRRORS",
    "NAME",
    "SHA256",
    "SYSTEM_DIRS",
    "load_data",
    "search_dirs",
]

#: Directory name used under ``$FASTNN_DATA``, the user cache and
#: ``$FASTNN_DATASETS_URL``.
NAME = "mnist"

#: The four files: train images, train labels, test images, test labels.
#: Each may be present gzipped (this name) or not (without ``.gz``).
FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: SHA-256 of the original ``.gz`` files, checked after every download.
#:
#: Provenance: not computed here (this machine cannot reach the mirrors).
#: Copied from pytorch/vision's torchvision/prototype/datasets/_builtin/mnist.py
#: (``MNIST._CHECKSUMS``); the same digests are pinned, next to the MD5 sums
#: that torchvision's stable ``datasets.MNIST`` checks
#: (f68b3c2dcbeaaa9fbdd348bbdeb94873, d53e105ee54ea40749a09fcbcd1e9432,
#: 9fb629c4189551a2d022fa330f9573f3, ec29112dd5afa0611ce80d1b7f02629c) and
#: the original sizes (9912422, 28881, 1648877 and 4542 bytes), by many
#: independent public projects downloading from each of the mirrors below.
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}

#: Base URLs tried in order when the files must be downloaded.  Each download
#: is verified against :data:`SHA256`, so a plain-HTTP mirror is safe.
#: Overridden by ``$FASTNN_DATASETS_URL``.
MIRRORS: list[str] = [
    # The mirror torchvision's datasets.MNIST downloads from first.
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    # The CVDF mirror on Google Cloud Storage used by TensorFlow (Datasets).
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    # The original site; it often refuses automated downloads nowadays.
    "http://yann.lecun.com/exdb/mnist/",
]

#: System directories searched after ``$FASTNN_DATA`` and before the user
#: cache.  Empty: Debian (bookworm) packages Fashion-MNIST but not MNIST.
SYSTEM_DIRS: list[str] = []

#: Debian package that installs the files into ``SYSTEM_DIRS[0]``: none.
DEBIAN_PACKAGE: str | None = None

#: Socket timeout, in seconds, for each download request.
DOWNLOAD_TIMEOUT: float = 60.0

#: Seconds each file's whole download may take (None: no limit).  The
#: per-read timeout above cannot stop a server that trickles bytes; this can.
DOWNLOAD_DEADLINE: float | None = 900.0


def _spec() -> _loader.DatasetSpec:
    return _loader.DatasetSpec(
        name=NAME,
        title="MNIST",
        files=FILES,
        sha256=SHA256,
        mirrors=tuple(MIRRORS),
        system_dirs=tuple(SYSTEM_DIRS),
        debian_package=DEBIAN_PACKAGE,
        timeout=DOWNLOAD_TIMEOUT,
        deadline=DOWNLOAD_DEADLINE,
    )


def search_dirs(path: str | os.PathLike[str] | None = None) -> list[str]:
    """List the directories :func:`load_data` searches, in order.

    Parameters
    ----------
    path : str or path-like, optional
        The ``path`` argument that would be passed to :func:`load_data`.

    Returns
    -------
    list of str
        Each directory followed by where it comes from, e.g.
        ``"/home/me/.cache/fastnn/mnist (user cache)"``.
    """
    return [
        f"{directory} ({origin})"
        for directory, origin in _loader.search_locations(_spec(), path)
    ]


def load_data(
    path: str | os.PathLike[str] | None = None, *, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the MNIST dataset, as ``keras.datasets.mnist`` does.

    The four IDX files (see :data:`FILES`; gzipped or not) are taken from
    the first of these directories that holds all of them:

    1. ``path``, if given;
    2. ``$FASTNN_DATA``, then ``$FASTNN_DATA/mnist``, if the ``FASTNN_DATA``
       environment variable is set;
    3. :data:`SYSTEM_DIRS` (empty by default: Debian has no MNIST package);
    4. the user cache, ``$XDG_CACHE_HOME/fastnn/mnist`` (by default
       ``~/.cache/fastnn/mnist``).

    If none does and ``download`` is true, the files missing from the cache
    are downloaded into it from :data:`MIRRORS` (or from
    ``$FASTNN_DATASETS_URL/mnist/``), each checked against its SHA-256
    digest in :data:`SHA256` and moved into place atomically.

    Parameters
    ----------
    path : str or path-like, optional
        Directory to look in first.  Unlike Keras's ``path`` (a file name in
        the Keras cache) this is a directory.
    download : bool, default True
        Whether to download the files when they are not found locally.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        ``x_train`` is uint8 of shape (60000, 28, 28), ``y_train`` uint8 of
        shape (60000,) with the digits 0-9; ``x_test`` and ``y_test``
        likewise with 10000 samples.

    Raises
    ------
    DatasetNotFoundError
        (a :class:`FileNotFoundError`) If the files are not found and could
        not be downloaded.  The message lists every place searched, every
        download tried, and how to supply the files offline.
    ChecksumError
        (a :class:`ValueError`) If every mirror that answered served a file
        whose SHA-256 digest is wrong.  Nothing is left in the cache.
    ValueError
        If a file found is not a valid IDX file or has the wrong shape.

    Examples
    --------
    >>> from fastnn.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
    >>> x_train.shape, y_train.shape  # doctest: +SKIP
    ((60000, 28, 28), (60000,))
    """
    return _loader.load_dataset(_spec(), path, download=download)
