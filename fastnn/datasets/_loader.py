"""Shared lookup, download and loading logic for the MNIST-style datasets.

Each dataset module (:mod:`fastnn.datasets.mnist`,
:mod:`fastnn.datasets.fashion_mnist`) describes its files in a
:class:`DatasetSpec` built from its module attributes at call time, so the
attributes can be changed (or monkeypatched in tests) after import.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import logging
import os
import socket
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ._idx import load_idx

__all__ = [
    "CACHE_SUBDIR",
    "DATA_ENV",
    "URL_ENV",
    "ChecksumError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "cache_dir",
    "load_dataset",
    "search_locations",
]

logger = logging.getLogger("fastnn.datasets")

#: Environment variable naming a directory that holds the dataset files,
#: either directly or in a sub-directory named after the dataset.
DATA_ENV: Final = "FASTNN_DATA"
#: Environment variable naming a base URL to download from instead of the
#: official mirrors; files are fetched from ``<base>/<dataset name>/<file>``.
URL_ENV: Final = "FASTNN_DATASETS_URL"
#: Name of fastnn's directory inside the user cache directory.
CACHE_SUBDIR: Final = "fastnn"

_IMAGE_SHAPE: Final = (28, 28)
_CHUNK: Final = 1 << 16


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are nowhere to be found and could not be downloaded.

    The message lists every place that was searched, every download that
    was tried, and how to provide the files offline.
    """


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 digest differs from the published one."""


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch and load one MNIST-style dataset.

    Attributes
    ----------
    name : str
        Directory name, e.g. ``"fashion-mnist"``: used under ``$FASTNN_DATA``,
        in the user cache and under a ``$FASTNN_DATASETS_URL`` base.
    title : str
        Human-readable name used in messages, e.g. ``"Fashion-MNIST"``.
    files : tuple of str
        The gzipped file names, in the order train images, train labels,
        test images, test labels.
    sha256 : mapping of str to str
        Expected SHA-256 hex digest of each downloaded ``.gz`` file.
    mirrors : sequence of str
        Base URLs tried in order; a file's URL is ``base + file name``.
    system_dirs : sequence of str
        System-wide directories searched after ``$FASTNN_DATA``.
    debian_package : str or None
        Debian package that installs the files into ``system_dirs``.
    timeout : float
        Socket timeout in seconds for each read of a download.
    deadline : float or None
        Seconds one file's download may take in all (connecting, headers
        and body); None for no limit.  The per-read ``timeout`` alone lets
        a server that trickles a byte at a time hold a download forever.
    """

    name: str
    title: str
    files: tuple[str, str, str, str]
    sha256: Mapping[str, str]
    mirrors: Sequence[str]
    system_dirs: Sequence[str]
    debian_package: str | None
    timeout: float
    deadline: float | None = None


def cache_dir(name: str) -> Path:
    """Return the user cache directory for dataset ``name``.

    This is ``$XDG_CACHE_HOME/fastnn/<name>``, or ``~/.cache/fastnn/<name>``
    when ``XDG_CACHE_HOME`` is unset or not absolute (as the XDG Base
    Directory specification requires).  The directory is not created.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return root / CACHE_SUBDIR / name


def search_locations(
    spec: DatasetSpec, path: str | os.PathLike[str] | None = None
) -> list[tuple[Path, str]]:
    """Return the directories searched for ``spec``'s files, in order.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset.
    path : str or path-like, optional
        Directory given explicitly by the caller; searched first.

    Returns
    -------
    list of (pathlib.Path, str)
        Each directory with a short description of where it came from.
    """
    locations: list[tuple[Path, str]] = []
    if path is not None:
        locations.append((Path(path).expanduser(), "path= argument"))
    data_root = os.environ.get(DATA_ENV, "")
    if data_root:
        root = Path(data_root).expanduser()
        locations.append((root, f"${DATA_ENV}"))
        locations.append((root / spec.name, f"${DATA_ENV}/{spec.name}"))
    for directory in spec.system_dirs:
        origin = (
            f"Debian package {spec.debian_package}"
            if spec.debian_package
            else "system directory"
        )
        locations.append((Path(directory), origin))
    locations.append((cache_dir(spec.name), "user cache"))
    return locations


def _scan(directory: Path, spec: DatasetSpec) -> tuple[list[Path], list[str]]:
    """Find ``spec``'s files in ``directory``, gzipped or not.

    Returns the paths found and the (``.gz``) names of the files missing.
    """
    found: list[Path] = []
    missing: list[str] = []
    for gz_name in spec.files:
        for candidate in (gz_name, gz_name.removesuffix(".gz")):
            if (directory / candidate).is_file():
                found.append(directory / candidate)
                break
        else:
            missing.append(gz_name)
    return found, missing


def _either(gz_name: str) -> str:
    return f"{gz_name.removesuffix('.gz')}[.gz]"


class _Deadline:
    """Shuts a download's sockets down once its time is up.

    A timer thread does it, so a read blocked anywhere (TLS handshake,
    headers, body) returns at once, whatever the per-read timeout.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the OS-level shutdown wakes
    # the blocked reader without touching TLS state another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedConnection:
    """Mixin for http.client connections: every socket opened joins a deadline."""

    def __init__(self, *args, deadline: _Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self._create_connection = self._create_watched_connection

    def _create_watched_connection(self, *args, **kwargs):
        sock = socket.create_connection(*args, **kwargs)
        self._deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_WatchedConnection, http.client.HTTPConnection):
    pass


_WATCHED = {http.client.HTTPConnection: _WatchedHTTPConnection}
if hasattr(http.client, "HTTPSConnection"):  # Python built without ssl has none

    class _WatchedHTTPSConnection(_WatchedConnection, http.client.HTTPSConnection):
        pass

    _WATCHED[http.client.HTTPSConnection] = _WatchedHTTPSConnection


class _WatchedHandler:
    """Mixin for urllib's HTTP(S) handlers: connections come from ``_WATCHED``."""

    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def do_open(self, http_class, req, **kwargs):
        if http_class in _WATCHED:
            http_class = functools.partial(_WATCHED[http_class], deadline=self._deadline)
        return super().do_open(http_class, req, **kwargs)


class _WatchedHTTPHandler(_WatchedHandler, urllib.request.HTTPHandler):
    pass


class _WatchedHTTPSHandler(_WatchedHandler, urllib.request.HTTPSHandler):
    pass


def _progress_bar(total: int | None, name: str):
    """A tqdm bar over bytes; shown only on a terminal (``disable=None``)."""
    from tqdm.auto import tqdm  # imported on first download, not with fastnn

    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None, leave=True, dynamic_ncols=True)


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def _download(
    url: str, dest: Path, sha256: str, timeout: float, deadline: float | None = None
) -> None:
    """Download ``url`` to ``dest`` atomically, checking its SHA-256 digest.

    The data goes to a temporary file next to ``dest`` that replaces
    ``dest`` only once the digest matches; on any failure it is removed.
    ``timeout`` bounds each socket read, ``deadline`` (seconds, or None)
    the whole download.  A progress bar shows on a terminal.

    Raises
    ------
    ChecksumError
        If the digest of the downloaded bytes is not ``sha256``.
    TimeoutError
        If the download took longer than ``deadline`` seconds.
    OSError, http.client.HTTPException, ValueError
        If the download itself fails (``urllib.error.URLError`` and socket
        timeouts are ``OSError``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
    )
    tmp = Path(tmp_name)
    watchdog = _Deadline(deadline)
    opener = urllib.request.build_opener(
        _WatchedHTTPHandler(watchdog), _WatchedHTTPSHandler(watchdog)
    )
    received = 0
    started = time.monotonic()
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            with opener.open(url, timeout=timeout) as response:
                total = _content_length(response)
                with _progress_bar(total, dest.name) as bar:
                    # read1: one socket read per call, so the loop sees the deadline
                    # between trickled bytes instead of waiting for a whole chunk.
                    while chunk := response.read1(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if watchdog.expired:
                            break
            if watchdog.expired and (total is None or received < total):
                raise TimeoutError("deadline")  # reworded below
            if total is not None and received < total:
                # Without this a connection cut short would pass as a digest mismatch.
                raise ConnectionError(
                    f"the connection closed after {received} of {total} bytes"
                )
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != sha256.lower():
            raise ChecksumError(
                f"SHA-256 mismatch for {url}: expected {sha256.lower()}, "
                f"got {actual}; the file was discarded"
            )
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if not watchdog.expired or isinstance(exc, ChecksumError):
            raise
        # The shut socket surfaces as whatever the blocked read made of it
        # (an empty read, a reset, an SSL error): say what really happened.
        raise TimeoutError(
            f"download deadline of {deadline:g} s exceeded after "
            f"{time.monotonic() - started:.1f} s ({received} bytes received); "
            "raise the dataset module's DOWNLOAD_DEADLINE for a slow connection"
        ) from None
    finally:
        watchdog.cancel()
        tmp.unlink(missing_ok=True)


def _mirrors(spec: DatasetSpec) -> list[str]:
    override = os.environ.get(URL_ENV, "").strip()
    if override:
        return [f"{override.rstrip('/')}/{spec.name}/"]
    return list(spec.mirrors)


def _fetch_missing(spec: DatasetSpec, directory: Path) -> list[str]:
    """Download the files missing from ``directory``.

    Each file is tried on every mirror in turn.  Returns an empty list on
    success, else one line per failed attempt, stopping at the first file
    that no mirror could provide.  A cache directory created here is
    removed again if it is still empty after a failure.

    Raises
    ------
    ChecksumError
        If no mirror delivered a file and at least one delivered it with
        the wrong digest.
    """
    _, missing = _scan(directory, spec)
    mirrors = _mirrors(spec)
    attempts: list[str] = []
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"cannot create the cache directory {directory}: {exc}"]
    try:
        for gz_name in missing:
            if not _fetch_one(spec, directory, gz_name, mirrors, attempts):
                return attempts or ["no download URL configured"]
    finally:
        if created and directory.is_dir() and not any(directory.iterdir()):
            with contextlib.suppress(OSError):
                directory.rmdir()
    return []


def _fetch_one(
    spec: DatasetSpec,
    directory: Path,
    gz_name: str,
    mirrors: list[str],
    attempts: list[str],
) -> bool:
    """Download ``gz_name`` into ``directory`` from the first mirror that works.

    Appends a line to ``attempts`` for each failed try and returns whether
    some mirror delivered the file.

    Raises
    ------
    ChecksumError
        If no mirror delivered the file and at least one delivered it with
        the wrong digest.
    """
    mismatches: list[ChecksumError] = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{gz_name}"
        logger.info("Downloading %s to %s", url, directory)
        try:
            _download(
                url, directory / gz_name, spec.sha256[gz_name], spec.timeout,
                spec.deadline,
            )
        except ChecksumError as exc:
            mismatches.append(exc)
            attempts.append(str(exc))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # URLError, HTTPError and socket timeouts are OSErrors;
            # ValueError covers a malformed URL.
            attempts.append(f"{url}: {exc}")
        else:
            for mismatch in mismatches:
                warnings.warn(f"{mismatch}; used {url}", RuntimeWarning, stacklevel=5)
            return True
    if mismatches:
        raise ChecksumError("; ".join(map(str, mismatches)))
    return False


def _not_found_message(
    spec: DatasetSpec,
    searched: list[str],
    attempts: list[str] | None,
) -> str:
    names = ", ".join(_either(name) for name in spec.files)
    lines = [
        f"{spec.title} data not found.",
        f"Looked for {names} in:",
        *(f"  - {line}" for line in searched),
    ]
    if attempts is None:
        lines.append("Downloading was disabled (download=False).")
    else:
        lines.append("Download failed:")
        lines.extend(f"  - {line}" for line in attempts)
    cache = cache_dir(spec.name)
    lines += [
        "To provide the files offline, do one of:",
        "  - pass load_data(path=DIR), DIR holding the four files (gzipped or not);",
        f"  - set {DATA_ENV}=DIR, with the files in DIR or in DIR/{spec.name};",
    ]
    if spec.debian_package:
        lines.append(f"  - on Debian or Ubuntu: apt-get install {spec.debian_package};")
    lines.append(f"  - copy the files into {cache}.")
    lines.append(f"Or set {URL_ENV} to a mirror serving <URL>/{spec.name}/<file>.")
    return "\n".join(lines)


def _load_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"{str(images_path)!r} holds {images.dtype} data of shape "
            f"{images.shape}, expected uint8 images of shape (n, 28, 28)"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{str(labels_path)!r} holds {labels.dtype} data of shape "
            f"{labels.shape}, expected uint8 labels of shape (n,)"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{str(images_path)!r} has {len(images)} images but "
            f"{str(labels_path)!r} has {len(labels)} labels"
        )
    return images, labels


def _load_files(
    found: list[Path],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    train_images, train_labels, test_images, test_labels = found
    return (
        _load_split(train_images, train_labels),
        _load_split(test_images, test_labels),
    )


def load_dataset(
    spec: DatasetSpec,
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Find (or download) and load ``spec``'s four IDX files.

    See :func:`fastnn.datasets.fashion_mnist.load_data` for the search
    order, the return value and the errors raised.
    """
    searched: list[str] = []
    for directory, origin in search_locations(spec, path):
        found, missing = _scan(directory, spec)
        if not missing:
            logger.debug("Loading %s from %s (%s)", spec.title, directory, origin)
            return _load_files(found)
        if directory.is_dir():
            state = "missing " + ", ".join(_either(name) for name in missing)
        elif directory.exists():
            state = "not a directory"
        else:
            state = "no such directory"
        searched.append(f"{directory} ({origin}): {state}")
    if not os.environ.get(DATA_ENV):
        searched.insert(0 if path is None else 1, f"${DATA_ENV}: not set")

    attempts = None
    if download:
        cache = cache_dir(spec.name)
        attempts = _fetch_missing(spec, cache)
        if not attempts:
            found, missing = _scan(cache, spec)
            if not missing:
                return _load_files(found)
            attempts = [f"{cache}: still missing {', '.join(missing)} after download"]
    raise DatasetNotFoundError(_not_found_message(spec, searched, attempts))
