"""Capture through urllib3 (pools and PoolManager): fields, retries and redirects as attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import urllib3

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
