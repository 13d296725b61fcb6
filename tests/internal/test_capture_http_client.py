"""Capture through the standard library (http.client, urllib.request)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Capture


def test_urllib_request_call(installed: Capture, server: str) -> None:
    with urllib.request.urlopen(f"{server}/echo?token=t", data=b"abcd", timeout=5) as reply:
        assert reply.read() == b"abcd"
    call = installed.only_call()
    assert (call["library"], call["method"], call["status"]) == ("http.client", "POST", 200)
    assert (call["bytesSent"], call["bytesReceived"]) == (4, 4)
    assert call["url"] == f"{server}/echo?token=REDACTED"


def test_urllib_request_follows_redirects_as_separate_requests(installed: Capture,
                                                               server: str) -> None:
    urllib.request.urlopen(f"{server}/redirect?to=/ok", timeout=5).read()
    assert [c["status"] for c in installed.calls()] == [302, 200]


def test_http_client_connection(installed: Capture, server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/status/404")
    assert connection.getresponse().status == 404
    connection.close()
    call = installed.only_call()
    assert (call["host"], call["port"], call["path"], call["status"]) == (
        "127.0.0.1", port, "/status/404", 404)


def test_refused_connection_keeps_the_users_exception(installed: Capture) -> None:
    with pytest.raises(urllib.error.URLError) as caught:
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=5)
    assert isinstance(caught.value.reason, ConnectionRefusedError)
    assert installed.only_call()["error"]["type"] == "ConnectionRefusedError"


def test_dropped_connection(installed: Capture, server: str) -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        urllib.request.urlopen(f"{server}/drop", timeout=5)
    assert installed.only_call()["error"]["type"] == "RemoteDisconnected"


def test_dns_failure(installed: Capture) -> None:
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://nonexistent.invalid/", timeout=5)
    assert installed.only_call()["error"]["type"] == "gaierror"


def test_runtime_api_traffic_is_not_a_call(capture: Capture, server: str) -> None:
    from httprecap.internal import bootstrap

    address = server.removeprefix("http://")
    assert bootstrap.install({"HTTPRECAP_PORT": str(capture.collector.port),
                              "AWS_LAMBDA_RUNTIME_API": address})
    urllib.request.urlopen(f"{server}/ok", timeout=5).read()
    assert capture.calls() == []
