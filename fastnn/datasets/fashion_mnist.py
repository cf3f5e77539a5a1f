"""Fashion-MNIST: 70,000 28x28 grayscale images of 10 kinds of clothing.

Zalando Research's drop-in replacement for MNIST (MIT licence,
https://github.com/zalandoresearch/fashion-mnist).  The labels are:

====  ===========
0     T-shirt/top
1     Trouser
2     Pullover
3     Dress
4     Coat
5     Sandal
6     Shirt
7     Sneaker
8     Bag
9     Ankle boot
====  ===========

Use :func:`load_data`, which mirrors ``keras.datasets.fashion_mnist``.

The module attributes below are read on every call, so they may be changed
at run time (for example to point at a local mirror).
"""

from __future__ import annotations

import os

import numpy as np

from . import _loader

__all__ = [
    "CLASS_NAMES",
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
NAME = "fashion-mnist"

#: Label index -> class name.
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: The four files: train images, train labels, test images, test labels.
#: Each may be present gzipped (this name) or not (without ``.gz``).
FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: SHA-256 of the official ``.gz`` files, checked after every download.
#:
#: Provenance: Zalando publishes only MD5 sums (README, "Get the Data"):
#: 8d4fb7e6c68d591d4c3dfef9ec88bf0d, 25c81989df183df01b3e8a0aad5dffbe,
#: bef4ecab320f06d8554ea6380940ec79 and bb300cfdad3c16e7a12a480ee83cd310
#: in the order below.  The SHA-256 digests were not computed here (this
#: machine cannot reach the mirrors).  They are copied from pytorch/vision's
#: torchvision/prototype/datasets/_builtin/mnist.py (``FashionMNIST._CHECKSUMS``)
#: and match those recorded, next to exactly the MD5 sums above and the
#: official sizes (26421880, 29515, 4422102 and 5148 bytes), by several
#: other independent public projects.
#:
#: The Debian package ``dataset-fashion-mnist`` does *not* ship byte-identical
#: ``.gz`` files: its gzip headers lack the original file name (each file is
#: exactly len(name)+1 bytes smaller than the official one) and carry the
#: package build date, so its .gz digests differ.  Its decompressed contents do match
#: the published SHA-256 digests of the raw official files
#: (c59f468a..., bad3541b..., 5b4141f0..., 0402a96d...), verified here on
#: version 0.0~git20200523.55506a9-1.  Local files are therefore not checked
#: against these digests; only downloads are.
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ),
}

#: Base URLs tried in order when the files must be downloaded.  All serve the
#: official files; each download is verified against :data:`SHA256`, so a
#: plain-HTTP mirror is safe.  Overridden by ``$FASTNN_DATASETS_URL``.
MIRRORS: list[str] = [
    # The dataset's own repository (the README's "clone this repository").
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    # Zalando's S3 bucket, the README's download links (HTTP only).
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    # The copy keras.datasets.fashion_mnist downloads.
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
]

#: System directories searched after ``$FASTNN_DATA`` and before the user
#: cache.  Debian's ``dataset-fashion-mnist`` package installs the four
#: ``.gz`` files directly into ``/usr/share/datasets/fashion-mnist``.
SYSTEM_DIRS: list[str] = ["/usr/share/datasets/fashion-mnist"]

#: Debian package that installs the files into ``SYSTEM_DIRS[0]``.
DEBIAN_PACKAGE: str | None = "dataset-fashion-mnist"

#: Socket timeout, in seconds, for each download request.
DOWNLOAD_TIMEOUT: float = 60.0

#: Seconds each file's whole download may take (None: no limit).  The
#: per-read timeout above cannot stop a server that trickles bytes; this can.
DOWNLOAD_DEADLINE: float | None = 900.0


def _spec() -> _loader.DatasetSpec:
    return _loader.DatasetSpec(
        name=NAME,
        title="Fashion-MNIST",
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
        ``"/usr/share/datasets/fashion-mnist (Debian package
        dataset-fashion-mnist)"``.
    """
    return [
        f"{directory} ({origin})"
        for directory, origin in _loader.search_locations(_spec(), path)
    ]


def load_data(
    path: str | os.PathLike[str] | None = None, *, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the Fashion-MNIST dataset, as ``keras.datasets.fashion_mnist`` does.

    The four IDX files (see :data:`FILES`; gzipped or not) are taken from
    the first of these directories that holds all of them:

    1. ``path``, if given;
    2. ``$FASTNN_DATA``, then ``$FASTNN_DATA/fashion-mnist``, if the
       ``FASTNN_DATA`` environment variable is set;
    3. :data:`SYSTEM_DIRS`: ``/usr/share/datasets/fashion-mnist``, where
       ``apt-get install dataset-fashion-mnist`` puts them on Debian/Ubuntu;
    4. the user cache, ``$XDG_CACHE_HOME/fastnn/fashion-mnist`` (by default
       ``~/.cache/fastnn/fashion-mnist``).

    If none does and ``download`` is true, the files missing from the cache
    are downloaded into it from :data:`MIRRORS` (or from
    ``$FASTNN_DATASETS_URL/fashion-mnist/``), each checked against its
    SHA-256 digest in :data:`SHA256` and moved into place atomically.

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
        shape (60000,) with values 0-9 (see :data:`CLASS_NAMES`);
        ``x_test`` and ``y_test`` likewise with 10000 samples.

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
    >>> from fastnn.datasets import fashion_mnist
    >>> (x_train, y_train), (x_test, y_test) = (
    ...     fashion_mnist.load_data()
    ... )  # doctest: +SKIP
    >>> x_train.shape, y_train.shape  # doctest: +SKIP
    ((60000, 28, 28), (60000,))
    """
    return _loader.load_dataset(_spec(), path, download=download)
