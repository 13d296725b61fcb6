"""Transport: each form of timeout a client is given resolves to the recap's `timeoutS` (the
longest single wait, None when unbounded; NOT_KNOWN when the form is not one we know)."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import urllib3
from call_support import encoded_call
from urllib3.util.timeout import Timeout

from httprecap.internal.transport.record import NOT_KNOWN, Record
from httprecap.internal.transport.timeouts import seconds


@pytest.fixture
def socket_default() -> Iterator[None]:
    """A socket default timeout of 4.5 s for the test (restored after)."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(4.5)
    yield
    socket.setdefaulttimeout(before)


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None), (5, 5.0), (2.5, 2.5), ((3.05, 10), 10.0), ((3, None), None), ([1, 2], 2.0),
])
def test_numbers_and_requests_tuples(raw: object, expected: float | None) -> None:
    assert seconds(raw) == expected


@pytest.mark.parametrize(("timeout", "expected"), [
    (Timeout(connect=2, read=7), 7.0),
    (Timeout(connect=2, read=None), None),
    (Timeout(total=3, connect=2, read=7), 3.0),
    (Timeout(total=5), 5.0),  # both waits the socket's default (unbounded), capped by total
    (Timeout(connect=None, read=None), None),
    (Timeout.from_float(8), 8.0),
])
def test_urllib3_timeout(timeout: Timeout, expected: float | None) -> None:
    assert seconds(timeout) == expected


def test_urllib3_default_is_the_socket_default(socket_default: None) -> None:
    assert seconds(Timeout()) == 4.5
    assert seconds(Timeout(read=9)) == 9.0


def test_urllib3_default_without_a_socket_default_is_unbounded() -> None:
    assert socket.getdefaulttimeout() is None
    assert seconds(Timeout()) is None


def test_a_pool_gives_its_own_timeout() -> None:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9, timeout=Timeout(connect=60, read=60))
    assert seconds(pool) == 60.0
    assert seconds(urllib3.HTTPConnectionPool("127.0.0.1", 9)) is None  # the socket's default


def test_http_client_global_default(socket_default: None) -> None:
    assert seconds(socket._GLOBAL_DEFAULT_TIMEOUT) == 4.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(("timeout", "expected"), [
    (httpx.Timeout(5), 5.0),
    (httpx.Timeout(5, read=30), 30.0),
    (httpx.Timeout(5, pool=None), None),
    (httpx.Timeout(None), None),
    (httpx.Timeout(10).as_dict(), 10.0),  # as httpx puts it on the request
    (httpx.Timeout(2, write=12).as_dict(), 12.0),
])
def test_httpx_timeout(timeout: object, expected: float | None) -> None:
    assert seconds(timeout) == expected


def test_an_httpx_client_gives_its_timeout() -> None:
    with httpx.Client() as client:
        assert seconds(client) == 5.0  # httpx's default


@pytest.mark.parametrize(("timeout", "expected"), [
    (aiohttp.ClientTimeout(total=10), 10.0),
    (aiohttp.ClientTimeout(total=300, sock_connect=30), 300.0),  # aiohttp's session default
    (aiohttp.ClientTimeout(sock_connect=3, sock_read=20), 20.0),
    (aiohttp.ClientTimeout(total=10, sock_connect=3, sock_read=20), 10.0),
    (aiohttp.ClientTimeout(connect=2, sock_connect=5, sock_read=4), 4.0),
    (aiohttp.ClientTimeout(sock_read=20), None),  # connecting unbounded
    (aiohttp.ClientTimeout(), None),
])
def test_aiohttp_client_timeout(timeout: aiohttp.ClientTimeout, expected: float | None) -> None:
    assert seconds(timeout) == expected


@pytest.mark.parametrize("raw", [NOT_KNOWN, "5", True, object(), float("nan"), -1,
                                 float("inf"), (1, 2, 3)])
def test_a_form_we_do_not_know_is_not_known(raw: object) -> None:
    assert seconds(raw) is NOT_KNOWN


def _message(timeout: object) -> dict[str, object]:
    """The wire call the encoder writes for a call given `timeout`."""
    record = Record()
    record.request_id, record.library, record.method = "req-1", "urllib3", "GET"
    record.thread, record.target = threading.current_thread(), "http://127.0.0.1:9/"
    record.timeout = timeout
    return encoded_call(record)


def _written(timeout: object) -> float | None:
    """`timeoutS` as the encoder writes it for a call given `timeout`."""
    written = _message(timeout)["timeoutS"]
    assert written is None or isinstance(written, float)
    return written


def test_a_timeout_written_again_follows_the_socket_default() -> None:
    # A pool's Timeout is written for each of its calls: what it resolved to is kept, but a
    # wait left to the socket's default must read the default as it is now.
    timeout = Timeout(read=9)
    before = socket.getdefaulttimeout()
    try:
        assert _written(timeout) is None and _written(timeout) is None  # connect: unbounded
        socket.setdefaulttimeout(20)
        assert _written(timeout) == 20.0 and _written(timeout) == 20.0
        socket.setdefaulttimeout(4.5)
        assert _written(timeout) == 9.0 and _written(Timeout(read=9)) == 9.0
        assert _written(5) == 5.0 and _written((3, 10)) == 10.0 and _written([1, 2]) == 2.0
        # A bool equals 1 or 0 but is no timeout (the clients refuse it): what one resolved to
        # is not kept for the number it equals.
        assert "timeoutS" not in _message(False) and _written(0) == 0.0
        assert "timeoutS" not in _message((True, 1)) and _written((1, 1)) == 1.0
    finally:
        socket.setdefaulttimeout(before)


def test_a_pool_is_not_kept_even_once_the_classes_kept_are_many(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Past MAX_CLASSES a class's form is worked out on each call, not kept: a pool is still
    # known for what it is, and never kept by the encoder.
    from httprecap.internal.transport import timeouts

    monkeypatch.setattr(timeouts, "_readers", {type(f"T{n}", (), {}): timeouts._unknown
                                               for n in range(timeouts.MAX_CLASSES)})
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9, timeout=Timeout(read=3))
    referrers = sys.getrefcount(pool)
    assert _written(pool) is None and _written(pool) is None
    assert sys.getrefcount(pool) == referrers


def test_a_pool_is_not_kept_by_the_encoder() -> None:
    # A pool (or session, or client) given as the holder of the timeout is resolved each time
    # and never kept: its timeout may be replaced, and it must be free to be collected.
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9, timeout=Timeout(read=9))
    referrers = sys.getrefcount(pool)
    assert _written(pool) is None
    pool.timeout = Timeout(connect=1, read=2)
    assert _written(pool) == 2.0 and sys.getrefcount(pool) == referrers
