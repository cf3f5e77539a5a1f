"""The dataset download's overall deadline and progress bar.

A server on 127.0.0.1 trickles its answer a byte at a time, each byte well
inside the per-read timeout: only an overall deadline can end the download.
Every load runs in a daemon thread joined with a timeout, so a regression
fails the test instead of hanging the run.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fastnn.datasets import DatasetNotFoundError, _loader, mnist


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every location in tmp_path; no proxies; no real mirror."""
    for var in ("FASTNN_DATA", "FASTNN_DATASETS_URL", "http_proxy", "https_proxy",
                "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", [str(tmp_path / "system")])
    monkeypatch.setattr(mnist, "MIRRORS", [])
    monkeypatch.setattr(mnist, "DOWNLOAD_TIMEOUT", 5.0)
    return tmp_path


class TrickleServer:
    """Answers every request by sending ``head`` then ``body`` one byte per
    ``interval`` seconds (``slow``: which of the two trickles)."""

    def __init__(self, slow: str, interval: float = 0.1):
        self.slow, self.interval = slow, interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:  # the accept timeout: look at self.stop again
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        body = b"x" * 1000
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        with connection:
            try:
                connection.recv(65536)
                if self.slow == "body":
                    connection.sendall(head)
                for byte in (head + body if self.slow == "head" else body):
                    if self.stop.wait(self.interval):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:  # the client gave up
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


def _load_in_thread(limit: float = 20.0):
    """Run mnist.load_data() in a thread; (exception or result, seconds taken)."""
    outcome: list = []

    def target():
        try:
            outcome.append(mnist.load_data())
        except BaseException as error:  # handed to the test below
            outcome.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"load_data still running after {limit} s"
    return outcome[0], time.monotonic() - started


@pytest.mark.parametrize("slow", ["body", "head"])
def test_a_trickling_mirror_is_abandoned_at_the_deadline(isolated, monkeypatch, slow):
    server = TrickleServer(slow)
    try:
        monkeypatch.setattr(mnist, "MIRRORS", [server.url])
        monkeypatch.setattr(mnist, "DOWNLOAD_DEADLINE", 1.0)
        error, seconds = _load_in_thread()
    finally:
        server.close()
    assert isinstance(error, DatasetNotFoundError), error
    assert "download deadline of 1 s exceeded" in str(error)
    assert seconds < 6
    cache = isolated / "xdg-cache" / "fastnn" / "mnist"
    assert not cache.exists()  # no partial file, no empty directory


def _publish(root: Path) -> dict[str, str]:
    """Write a tiny valid MNIST-shaped dataset under root/mnist; its digests."""
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, 4, dtype=np.uint8),
              rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, 2, dtype=np.uint8))
    digests = {}
    for name, array in zip(mnist.FILES, arrays, strict=True):
        header = bytes([0, 0, 0x08, array.ndim])
        header += b"".join(dim.to_bytes(4, "big") for dim in array.shape)
        data = gzip.compress(header + array.tobytes())
        (root / "mnist").mkdir(parents=True, exist_ok=True)
        (root / "mnist" / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


@pytest.fixture
def file_server(tmp_path: Path):
    import functools
    import http.server

    root = tmp_path / "www"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_port}/mnist/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_a_download_within_the_deadline_shows_progress(isolated, monkeypatch, file_server):
    root, url = file_server
    monkeypatch.setattr(mnist, "SHA256", _publish(root))
    monkeypatch.setattr(mnist, "MIRRORS", [url])
    monkeypatch.setattr(mnist, "DOWNLOAD_DEADLINE", 10.0)
    bars = []

    class RecordingBar:
        def __init__(self, total, name):
            self.total, self.name, self.done = total, name, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.done += n

    monkeypatch.setattr(_loader, "_progress_bar", RecordingBar)
    result, _ = _load_in_thread()
    assert not isinstance(result, BaseException), result
    assert [bar.name for bar in bars] == list(mnist.FILES)
    sizes = [(root / "mnist" / name).stat().st_size for name in mnist.FILES]
    assert [bar.total for bar in bars] == sizes == [bar.done for bar in bars]


def test_the_progress_bar_counts_bytes_and_hides_off_a_terminal():
    bar = _loader._progress_bar(2048, "train-images-idx3-ubyte.gz")
    with bar:
        assert bar.total == 2048
        assert bar.disable  # pytest's captured stderr is no terminal


def test_a_connection_cut_short_is_reported_as_such(isolated, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(mnist, "MIRRORS", [f"http://127.0.0.1:{listener.getsockname()[1]}/"])
        error, _ = _load_in_thread()
    finally:
        thread.join(timeout=5)
        listener.close()
    assert isinstance(error, DatasetNotFoundError), error
    assert "the connection closed after 10 of 100 bytes" in str(error)
