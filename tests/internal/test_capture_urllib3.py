"""Capture through urllib3 (pools and PoolManager): fields, retries and redirects as attempts."""

from __future__ import annotations

import gc
import socket
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import urllib3
from urllib3.connection import HTTPConnection

if TYPE_CHECKING:
    from conftest import Capture


def test_pool_manager_call(installed: Capture, server: str) -> None:
    urllib3.PoolManager().request("POST", f"{server}/echo?x=1", body=b"abc")
    call = installed.only_call()
    assert (call["library"], call["method"], call["path"]) == ("urllib3", "POST", "/echo")
    assert (call["status"], call["bytesSent"], call["bytesReceived"]) == (200, 3, 3)
    assert call["url"] == f"{server}/echo?x=1"


def test_connection_pool_call(installed: Capture, server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with urllib3.HTTPConnectionPool("127.0.0.1", port) as pool:
        pool.request("GET", "/ok?api_key=k")
    call = installed.only_call()
    assert (call["host"], call["port"], call["status"]) == ("127.0.0.1", port, 200)
    assert call["url"] == f"{server}/ok?api_key=REDACTED"


def test_pool_manager_redirects_are_attempts(installed: Capture, server: str) -> None:
    response = urllib3.PoolManager().request("GET", f"{server}/redirect?to=/ok")
    assert response.status == 200
    call = installed.only_call()
    assert [a["status"] for a in call["attempts"]] == [302, 200]


def test_retries_are_attempts(installed: Capture, server: str) -> None:
    retries = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0)
    urllib3.PoolManager().request("GET", f"{server}/flaky?key=urllib3", retries=retries)
    call = installed.only_call()
    assert call["status"] == 200
    assert [a["status"] for a in call["attempts"]] == [503, 200]


def test_retries_exhausted_on_refused_connection(installed: Capture) -> None:
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        urllib3.PoolManager().request("GET", "http://127.0.0.1:9/", retries=urllib3.Retry(2))
    call = installed.only_call()
    assert call["error"]["type"] == "MaxRetryError"
    assert len(call["attempts"]) == 3
    assert all(a["error"]["type"] == "NewConnectionError" for a in call["attempts"])


def test_read_timeout(installed: Capture, server: str) -> None:
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        urllib3.PoolManager().request("GET", f"{server}/slow?ms=500", timeout=0.1, retries=0)
    assert "timed out" in installed.only_call()["error"]["message"]


def test_a_pools_own_retries_are_attempts(installed: Capture, server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    retries = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0)
    with urllib3.HTTPConnectionPool("127.0.0.1", port) as pool:
        assert pool.request("GET", "/flaky?key=pool", retries=retries).status == 200
    call = installed.only_call()
    url = f"{server}/flaky?key=REDACTED"
    assert call["status"] == 200 and call["url"] == url
    assert [(a["status"], a["url"]) for a in call["attempts"]] == [(503, url), (200, url)]
    first, second = call["attempts"]
    assert call["startedAtUs"] == first["startedAtUs"] <= second["startedAtUs"]


def test_a_single_request_lists_no_attempts(installed: Capture, server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with urllib3.HTTPConnectionPool("127.0.0.1", port) as pool:
        pool.request("GET", "/ok")
    urllib3.PoolManager().request("GET", f"{server}/ok")
    assert [c["attempts"] for c in installed.calls()] == [[], []]


def test_body_given_after_a_positional_redirect(installed: Capture, server: str) -> None:
    # PoolManager.urlopen(method, url, redirect=True, **kw): the third argument is no body.
    urllib3.PoolManager().urlopen("POST", f"{server}/echo", True, body=b"hello")
    assert installed.only_call()["bytesSent"] == 5


def test_a_body_from_a_file_counts_its_declared_length(installed: Capture, server: str,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "body.bin"
    path.write_bytes(b"x" * 300)
    port = int(server.rsplit(":", 1)[1])
    with urllib3.HTTPConnectionPool("127.0.0.1", port) as pool, path.open("rb") as body:
        pool.urlopen("POST", "/echo", body, {"Content-Length": "300"})
    assert installed.only_call()["bytesSent"] == 300


class _Connection(HTTPConnection):
    """Remembers its sockets (weakly) for the test to check they were closed."""

    sockets: list[weakref.ref[socket.socket]] = []

    def connect(self) -> None:
        super().connect()
        _Connection.sockets.append(weakref.ref(self.sock))


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


@pytest.fixture
def hangs_up_once() -> Iterator[int]:
    """Port of a loopback server that closes its first connection unanswered, then answers."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for number in range(2):
            connection, _ = listener.accept()
            connection.recv(65536)
            if number:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                connection.recv(1)  # until the client closes
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)


def test_a_released_response_closes_its_socket_after_a_retry(installed: Capture,
                                                              hangs_up_once: int) -> None:
    # urllib3 keeps the first attempt's exception in the Retry it passes on; its traceback
    # keeps the frames that called urlopen: the capture's must not hold the response.
    _Connection.sockets.clear()
    gc.disable()
    try:
        response = _Pool("127.0.0.1", hangs_up_once, maxsize=1).urlopen(
            "GET", "/", retries=urllib3.Retry(1, backoff_factor=0), preload_content=False)
        assert response.status == 200 and len(_Connection.sockets) == 2
        del response  # as without the capture: its socket closes now, not at the next GC
        answered = _Connection.sockets[1]()
        assert answered is None or answered.fileno() == -1
    finally:
        gc.enable()
        gc.collect()
    assert [a["error"] is not None for a in installed.only_call()["attempts"]] == [True, False]
