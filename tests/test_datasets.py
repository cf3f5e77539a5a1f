"""Tests for fastnn.datasets: the IDX reader, the file lookup and the download.

Everything runs on small synthetic IDX files in tmp_path.  Downloads go to
an http.server bound to 127.0.0.1; no test touches the real network or the
real user cache (HOME and XDG_CACHE_HOME point into tmp_path).
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from fastnn import datasets
from fastnn.datasets import (
    ChecksumError,
    DatasetNotFoundError,
    fashion_mnist,
    load_idx,
    mnist,
)

DATASETS = [mnist, fashion_mnist]
# Import-time defaults, captured before the autouse fixture patches them.
DEFAULT_FASHION_SYSTEM_DIRS = list(fashion_mnist.SYSTEM_DIRS)
DEFAULT_MIRRORS = {m.NAME: list(m.MIRRORS) for m in DATASETS}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format."""
    code = _TYPE_CODES[array.dtype]
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(dim.to_bytes(4, "big") for dim in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` to ``path``; gzip it if ``compress`` (default: name ends .gz)."""
    data = idx_bytes(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@dataclass
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def check(self, loaded) -> None:
        (x_train, y_train), (x_test, y_test) = loaded
        for got, want in (
            (x_train, self.x_train),
            (y_train, self.y_train),
            (x_test, self.x_test),
            (y_test, self.y_test),
        ):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, want)


def make_dataset(
    directory: Path,
    n_train: int = 5,
    n_test: int = 3,
    *,
    gz: bool = True,
    seed: int = 0,
) -> Split:
    """Write a tiny MNIST-shaped dataset (the four standard files)."""
    rng = np.random.default_rng(seed)
    split = Split(
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    )
    arrays = (split.x_train, split.y_train, split.x_test, split.y_test)
    for gz_name, array in zip(mnist.FILES, arrays, strict=True):
        name = gz_name if gz else gz_name.removesuffix(".gz")
        write_idx(directory / name, array)
    return split


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def n_train_of(loaded) -> int:
    (x_train, _), _ = loaded
    return len(x_train)


@dataclass
class Env:
    """Isolated locations for one test."""

    tmp: Path
    system_dir: Path  # what the dataset module's SYSTEM_DIRS points at
    cache_root: Path  # $XDG_CACHE_HOME/fastnn

    def cache(self, module: ModuleType) -> Path:
        return self.cache_root / module.NAME


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """Point every location at tmp_path and disable real downloads."""
    for var in ("FASTNN_DATA", "FASTNN_DATASETS_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    system = tmp_path / "system"
    for module in DATASETS:
        monkeypatch.setattr(module, "SYSTEM_DIRS", [str(system / module.NAME)])
        monkeypatch.setattr(module, "MIRRORS", [])  # no accidental real downloads
        monkeypatch.setattr(module, "DOWNLOAD_TIMEOUT", 5.0)
    return Env(tmp_path, system, tmp_path / "xdg-cache" / "fastnn")


@dataclass
class Server:
    root: Path
    url: str
    requests: list[str] = field(default_factory=list)

    def publish(self, module: ModuleType, **kwargs) -> Split:
        """Serve a synthetic dataset at <url>/<name>/ and trust its digests."""
        return make_dataset(self.root / module.NAME, **kwargs)

    def digests(self, module: ModuleType) -> dict[str, str]:
        return {
            name: sha256_of(self.root / module.NAME / name) for name in module.FILES
        }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format, *args):  # keep test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Server(root, f"http://127.0.0.1:{httpd.server_port}", requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------------------
# load_idx
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(_TYPE_CODES), ids=lambda d: d.name)
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("shape", [(5, 28, 28), (7,), (2, 3, 4, 1)], ids=str)
def test_load_idx_round_trip(tmp_path, dtype, compress, shape):
    rng = np.random.default_rng(1)
    if dtype.kind == "f":
        array = rng.standard_normal(shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    path = write_idx(tmp_path / "data.idx", array, compress=compress)

    loaded = load_idx(path)

    assert loaded.dtype == dtype and loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable and loaded.flags.c_contiguous
    assert load_idx(str(path)).shape == shape  # str paths too


def test_load_idx_detects_gzip_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    gzipped_no_suffix = write_idx(tmp_path / "labels-idx1-ubyte", array, compress=True)
    raw_with_suffix = write_idx(
        tmp_path / "labels-idx1-ubyte.gz", array, compress=False
    )
    np.testing.assert_array_equal(load_idx(gzipped_no_suffix), array)
    np.testing.assert_array_equal(load_idx(raw_with_suffix), array)


def test_load_idx_zero_length_dimension(tmp_path):
    path = write_idx(tmp_path / "empty.idx", np.zeros((0, 28, 28), np.uint8))
    assert load_idx(path).shape == (0, 28, 28)


def test_load_idx_missing_file(tmp_path):
    path = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(FileNotFoundError, match=re.escape("nope-idx1-ubyte.gz")):
        load_idx(path)


_GOOD = idx_bytes(np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4))
_GOOD_GZ = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)), mtime=0)

CORRUPT_CASES = {
    "empty": (b"", "too short"),
    "short-magic": (b"\x00\x00\x08", "too short"),
    "bad-magic": (b"\x01\x02" + _GOOD[2:], "bad magic number 0x0102"),
    "bad-dtype-code": (_GOOD[:2] + b"\x0a" + _GOOD[3:], "unknown data type code 0x0A"),
    "truncated-header": (_GOOD[:10], "declares 3 dimensions"),
    "truncated-payload": (_GOOD[:-1], "payload truncated"),
    "trailing-bytes": (_GOOD + b"\x00\x00", "trailing bytes"),
    "wrong-dims": (_GOOD[:4] + (3).to_bytes(4, "big") + _GOOD[8:], "need 72 bytes"),
    "truncated-gzip": (_GOOD_GZ[: len(_GOOD_GZ) // 2], "gzip"),
    "gzip-magic-only": (b"\x1f\x8b", "gzip"),
    "gzip-bad-crc": (_GOOD_GZ[:-8] + b"\xde\xad\xbe\xef" + _GOOD_GZ[-4:], "gzip"),
    "gzip-corrupt-deflate": (
        _GOOD_GZ[:10] + bytes(b ^ 0xFF for b in _GOOD_GZ[10:40]) + _GOOD_GZ[40:],
        "gzip",
    ),
    "gzip-of-short-payload": (
        gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09abc", mtime=0),
        "payload truncated",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT_CASES))
def test_load_idx_corrupt_files_raise_value_error(tmp_path, case):
    content, fragment = CORRUPT_CASES[case]
    path = tmp_path / f"{case}-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as excinfo:
        load_idx(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert fragment in message


# --------------------------------------------------------------------------
# Lookup order
# --------------------------------------------------------------------------


@pytest.mark.parametrize("module", DATASETS, ids=lambda m: m.NAME)
def test_lookup_order(env, monkeypatch, module):
    explicit = env.tmp / "explicit"
    data_root = env.tmp / "fastnn-data"
    # One location per priority, told apart by the number of training images.
    make_dataset(explicit, n_train=1)
    make_dataset(data_root, n_train=2)
    make_dataset(data_root / module.NAME, n_train=3)
    make_dataset(env.system_dir / module.NAME, n_train=4)
    make_dataset(env.cache(module), n_train=5)
    monkeypatch.setenv("FASTNN_DATA", str(data_root))

    assert n_train_of(module.load_data(path=explicit)) == 1  # path= first
    assert n_train_of(module.load_data()) == 2  # then $FASTNN_DATA
    for name in module.FILES:
        (data_root / name).unlink()
    assert n_train_of(module.load_data()) == 3  # then $FASTNN_DATA/<name>
    monkeypatch.delenv("FASTNN_DATA")
    assert n_train_of(module.load_data()) == 4  # then the system (Debian) dir
    monkeypatch.setattr(module, "SYSTEM_DIRS", [str(env.tmp / "absent")])
    assert n_train_of(module.load_data()) == 5  # then the user cache


def test_search_dirs_lists_locations_in_order(env, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(env.tmp / "d"))
    dirs = fashion_mnist.search_dirs(path=env.tmp / "p")
    assert dirs == [
        f"{env.tmp / 'p'} (path= argument)",
        f"{env.tmp / 'd'} ($FASTNN_DATA)",
        f"{env.tmp / 'd' / 'fashion-mnist'} ($FASTNN_DATA/fashion-mnist)",
        f"{env.system_dir / 'fashion-mnist'} (Debian package dataset-fashion-mnist)",
        f"{env.cache(fashion_mnist)} (user cache)",
    ]


def test_default_locations():
    assert DEFAULT_FASHION_SYSTEM_DIRS == ["/usr/share/datasets/fashion-mnist"]
    assert fashion_mnist.DEBIAN_PACKAGE == "dataset-fashion-mnist"
    assert mnist.DEBIAN_PACKAGE is None  # Debian has no MNIST package
    for module in DATASETS:
        assert DEFAULT_MIRRORS[module.NAME]
        assert all(url.endswith("/") for url in DEFAULT_MIRRORS[module.NAME])
        assert set(module.SHA256) == set(module.FILES)
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in module.SHA256.values())


def test_xdg_cache_home_respected_and_home_fallback(env, monkeypatch):
    assert datasets.cache_dir("mnist") == env.cache_root / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert (
        datasets.cache_dir("mnist") == env.tmp / "home" / ".cache" / "fastnn" / "mnist"
    )
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # ignored, per the XDG spec
    assert (
        datasets.cache_dir("mnist") == env.tmp / "home" / ".cache" / "fastnn" / "mnist"
    )


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_load_data_reads_gzipped_or_raw(env, gz):
    split = make_dataset(env.tmp / "d", gz=gz)
    split.check(mnist.load_data(path=env.tmp / "d"))


def test_load_data_returns_keras_shapes(env):
    make_dataset(env.tmp / "d", n_train=5, n_test=3)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(path=env.tmp / "d")
    assert x_train.shape == (5, 28, 28) and y_train.shape == (5,)
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}


def test_incomplete_directory_is_skipped(env):
    partial = env.tmp / "partial"
    make_dataset(partial, n_train=1)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    make_dataset(env.cache(mnist), n_train=5)
    assert n_train_of(mnist.load_data(path=partial)) == 5


def test_inconsistent_files_raise_value_error_naming_file(env):
    d = env.tmp / "d"
    make_dataset(d)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))  # 5 images
    with pytest.raises(ValueError, match=re.escape("train-labels-idx1-ubyte.gz")):
        mnist.load_data(path=d)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 27), np.uint8))
    with pytest.raises(ValueError, match=re.escape("train-images-idx3-ubyte.gz")):
        mnist.load_data(path=d)


def test_corrupt_file_found_is_reported_not_skipped(env):
    d = env.tmp / "d"
    make_dataset(d)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError, match=re.escape("t10k-images-idx3-ubyte.gz")):
        fashion_mnist.load_data(path=d)


# --------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------


@pytest.mark.parametrize("module", DATASETS, ids=lambda m: m.NAME)
def test_download_end_to_end(env, server, monkeypatch, module):
    split = server.publish(module)
    monkeypatch.setattr(module, "SHA256", server.digests(module))
    monkeypatch.setattr(module, "MIRRORS", [f"{server.url}/{module.NAME}/"])

    split.check(module.load_data())

    cache = env.cache(module)
    assert leftovers(cache) == sorted(module.FILES)  # no temporary files left
    for name in module.FILES:
        assert sha256_of(cache / name) == module.SHA256[name]
    assert sorted(server.requests) == sorted(
        f"/{module.NAME}/{n}" for n in module.FILES
    )

    server.requests.clear()
    split.check(module.load_data())  # now served from the cache
    assert server.requests == []


def test_download_url_from_environment(env, server, monkeypatch):
    split = server.publish(fashion_mnist)
    monkeypatch.setattr(fashion_mnist, "SHA256", server.digests(fashion_mnist))
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [closed_port_url() + "/"])
    monkeypatch.setenv("FASTNN_DATASETS_URL", server.url)  # overrides MIRRORS

    split.check(fashion_mnist.load_data())
    assert leftovers(env.cache(fashion_mnist)) == sorted(fashion_mnist.FILES)


def test_download_fetches_only_missing_files(env, server, monkeypatch):
    split = server.publish(mnist)
    monkeypatch.setattr(mnist, "SHA256", server.digests(mnist))
    monkeypatch.setattr(mnist, "MIRRORS", [f"{server.url}/mnist/"])
    cache = env.cache(mnist)
    cache.mkdir(parents=True)
    for name in mnist.FILES[:3]:
        (cache / name).write_bytes((server.root / "mnist" / name).read_bytes())

    split.check(mnist.load_data())
    assert server.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]


def test_download_falls_back_to_next_mirror(env, server, monkeypatch):
    split = server.publish(mnist)
    monkeypatch.setattr(mnist, "SHA256", server.digests(mnist))
    monkeypatch.setattr(
        mnist,
        "MIRRORS",
        [closed_port_url() + "/", f"{server.url}/missing/", f"{server.url}/mnist/"],
    )
    split.check(mnist.load_data())


def test_digest_mismatch_raises_and_leaves_nothing(env, server, monkeypatch):
    server.publish(fashion_mnist)
    digests = server.digests(fashion_mnist)
    good = digests["train-images-idx3-ubyte.gz"]
    bad = "0" * 64
    digests["train-images-idx3-ubyte.gz"] = bad
    monkeypatch.setattr(fashion_mnist, "SHA256", digests)
    url = f"{server.url}/fashion-mnist/"
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [url])

    with pytest.raises(ValueError) as excinfo:
        fashion_mnist.load_data()

    assert isinstance(excinfo.value, ChecksumError)
    message = str(excinfo.value)
    assert url + "train-images-idx3-ubyte.gz" in message
    assert bad in message and good in message
    assert leftovers(env.cache(fashion_mnist)) == []
    assert not env.cache(fashion_mnist).exists()


def test_digest_mismatch_on_later_file_leaves_no_partial(env, server, monkeypatch):
    server.publish(mnist)
    digests = server.digests(mnist)
    digests["t10k-images-idx3-ubyte.gz"] = "f" * 64
    monkeypatch.setattr(mnist, "SHA256", digests)
    monkeypatch.setattr(mnist, "MIRRORS", [f"{server.url}/mnist/"])

    with pytest.raises(ChecksumError, match=re.escape("t10k-images-idx3-ubyte.gz")):
        mnist.load_data()
    # Files verified before the bad one are kept; nothing else is.
    assert leftovers(env.cache(mnist)) == sorted(mnist.FILES[:2])


def test_digest_mismatch_then_good_mirror_warns(env, server, monkeypatch):
    split = server.publish(mnist)
    digests = server.digests(mnist)
    monkeypatch.setattr(mnist, "SHA256", digests)
    tampered = server.root / "tampered"
    tampered.mkdir()
    for name in mnist.FILES:
        (tampered / name).write_bytes(b"not the real file")
    monkeypatch.setattr(
        mnist, "MIRRORS", [f"{server.url}/tampered/", f"{server.url}/mnist/"]
    )
    with pytest.warns(RuntimeWarning, match="SHA-256 mismatch"):
        split.check(mnist.load_data())


def _assert_looked_everywhere(
    message: str, env: Env, module: ModuleType, extra: list[Path]
):
    for directory in [*extra, env.system_dir / module.NAME, env.cache(module)]:
        assert str(directory) in message, directory
    assert "FASTNN_DATA" in message
    assert "path=" in message
    for name in module.FILES:
        assert name.removesuffix(".gz") in message


@pytest.mark.parametrize("module", DATASETS, ids=lambda m: m.NAME)
def test_unreachable_server_gives_looked_in_error(env, monkeypatch, module):
    url = closed_port_url()
    monkeypatch.setattr(module, "MIRRORS", [url + "/"])
    data_root = env.tmp / "fastnn-data"
    data_root.mkdir()
    monkeypatch.setenv("FASTNN_DATA", str(data_root))
    explicit = env.tmp / "explicit"

    with pytest.raises(FileNotFoundError) as excinfo:
        module.load_data(path=explicit)

    assert isinstance(excinfo.value, DatasetNotFoundError)
    message = str(excinfo.value)
    _assert_looked_everywhere(
        message, env, module, [explicit, data_root, data_root / module.NAME]
    )
    assert f"{url}/train-images-idx3-ubyte.gz" in message
    assert "refused" in message.lower()
    if module is fashion_mnist:
        assert "apt-get install dataset-fashion-mnist" in message
    assert not env.cache(module).exists()  # no empty directory left behind


def test_not_found_message_when_fastnn_data_unset(env, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", [closed_port_url() + "/"])
    with pytest.raises(DatasetNotFoundError) as excinfo:
        mnist.load_data()
    message = str(excinfo.value)
    assert "$FASTNN_DATA: not set" in message
    _assert_looked_everywhere(message, env, mnist, [])


def test_http_404_is_reported(env, server, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", [f"{server.url}/nothing-here/"])
    with pytest.raises(DatasetNotFoundError, match="404"):
        mnist.load_data()


def test_download_timeout(env, monkeypatch):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        monkeypatch.setattr(mnist, "MIRRORS", [f"http://127.0.0.1:{port}/"])
        monkeypatch.setattr(mnist, "DOWNLOAD_TIMEOUT", 0.2)
        with pytest.raises(DatasetNotFoundError, match="timed out"):
            mnist.load_data()
    assert not env.cache(mnist).exists()


def test_download_false_never_downloads(env, server, monkeypatch):
    server.publish(mnist)
    monkeypatch.setattr(mnist, "SHA256", server.digests(mnist))
    monkeypatch.setattr(mnist, "MIRRORS", [f"{server.url}/mnist/"])
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        mnist.load_data(download=False)
    assert server.requests == []


def test_unusable_cache_is_reported(env, server, monkeypatch):
    # A file where the cache directory should be (chmod would not stop root).
    env.cache_root.parent.mkdir(parents=True)
    env.cache_root.write_text("not a directory")
    server.publish(mnist)
    monkeypatch.setattr(mnist, "SHA256", server.digests(mnist))
    monkeypatch.setattr(mnist, "MIRRORS", [f"{server.url}/mnist/"])
    with pytest.raises(DatasetNotFoundError) as excinfo:
        mnist.load_data()
    assert f"cannot create the cache directory {env.cache(mnist)}" in str(excinfo.value)
    assert server.requests == []


# --------------------------------------------------------------------------
# The real Fashion-MNIST from Debian's dataset-fashion-mnist package
# --------------------------------------------------------------------------


@pytest.mark.skipif(
    not all((DEBIAN_FASHION_DIR / name).is_file() for name in fashion_mnist.FILES),
    reason=(
        f"real Fashion-MNIST not installed in {DEBIAN_FASHION_DIR} "
        "(apt-get install dataset-fashion-mnist)"
    ),
)
def test_real_fashion_mnist_from_debian_package(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", [str(DEBIAN_FASHION_DIR)])
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(download=False)

    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert y_train.min() == 0 and y_train.max() == 9
    assert y_test.min() == 0 and y_test.max() == 9
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
