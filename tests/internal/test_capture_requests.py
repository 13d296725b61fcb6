"""Capture through requests (Session.send): record fields, redirects, errors, exactly once."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

import pytest
import requests
import responses
import urllib3

from httprecap import wire

if TYPE_CHECKING:
    from conftest import Capture


def test_record_has_every_call_field(installed: Capture, server: str) -> None:
    requests.post(f"{server}/echo?limit=5", data=b"12345", timeout=5)
    call = installed.only_call()
    wire.validate_call(call)
    assert set(call) == set(wire.CALL_FIELDS) - {
        "proxy", "requestHeaders", "responseHeaders", "requestBody", "responseBody"}
    port = int(server.rsplit(":", 1)[1])
    assert call["method"] == "POST"
    assert (call["scheme"], call["host"], call["port"]) == ("http", "127.0.0.1", port)
    assert call["path"] == "/echo"
    assert call["url"] == f"{server}/echo?limit=5"
    assert call["status"] == 200 and call["error"] is None
    assert (call["bytesSent"], call["bytesReceived"]) == (5, 5)
    assert call["library"] == "requests" and call["thread"] == "MainThread"
    assert call["requestId"] == wire.INIT_REQUEST_ID
    assert call["attempts"] == [] and call["aws"] is None
    assert call["durationMs"] >= 0 and call["startedAtUs"] > 1_600_000_000_000_000


@responses.activate
def test_call_mocked_by_responses_is_recorded(installed: Capture) -> None:
    responses.add(responses.GET, "https://api.example.com/items", json={"a": 1}, status=201)
    requests.get("https://api.example.com/items?token=abc", timeout=5)
    call = installed.only_call()
    assert (call["host"], call["port"], call["status"]) == ("api.example.com", 443, 201)
    assert call["url"] == "https://api.example.com/items?token=REDACTED"


@responses.activate
def test_exception_object_passes_through_unchanged(installed: Capture) -> None:
    raised = requests.ConnectionError("boom")
    responses.add(responses.GET, "https://api.example.com/x", body=raised)
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get("https://api.example.com/x", timeout=5)
    assert caught.value is raised
    assert installed.only_call()["error"] == {"type": "ConnectionError", "message": "boom"}


def test_redirects_are_attempts_of_one_call(installed: Capture, server: str) -> None:
    response = requests.get(f"{server}/redirect?to=/redirect%3Fto%3D/ok", timeout=5)
    assert response.status_code == 200
    call = installed.only_call()
    assert call["status"] == 200 and call["path"] == "/redirect"
    assert [a["status"] for a in call["attempts"]] == [302, 302, 200]
    assert call["attempts"][-1]["url"] == f"{server}/ok"


def test_one_record_through_requests_urllib3_http_client(installed: Capture, server: str) -> None:
    with requests.Session() as session:
        for _ in range(3):
            session.get(f"{server}/ok", timeout=5)
    calls = installed.calls()
    assert [c["library"] for c in calls] == ["requests"] * 3


def test_http_error_status_is_not_an_error(installed: Capture, server: str) -> None:
    requests.get(f"{server}/status/500", timeout=5)
    call = installed.only_call()
    assert call["status"] == 500 and call["error"] is None


def test_refused_connection(installed: Capture) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:9/", timeout=5)
    error = installed.only_call()["error"]
    assert error["type"] == "ConnectionError" and "refused" in error["message"].lower()


def test_dns_failure(installed: Capture) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get("http://nonexistent.invalid/", timeout=5)
    call = installed.only_call()
    assert call["host"] == "nonexistent.invalid" and call["status"] is None
    assert "resolve" in call["error"]["message"].lower()


def test_timeout(installed: Capture, server: str) -> None:
    with pytest.raises(requests.Timeout):
        requests.get(f"{server}/slow?ms=500", timeout=0.1)
    assert installed.only_call()["error"]["type"] == "ReadTimeout"


def test_tls_error(installed: Capture, server: str) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.replace("http://", "https://") + "/ok", timeout=5)
    assert installed.only_call()["error"]["type"] == "SSLError"


def test_dropped_connection(installed: Capture, server: str) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server}/drop", timeout=5)
    assert installed.only_call()["error"]["type"] == "ConnectionError"


def test_traceback_ends_in_the_library_not_in_httprecap(installed: Capture) -> None:
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get("http://127.0.0.1:9/", timeout=5)
    last = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert "requests" in last.filename and "httprecap" not in last.filename


def test_headers_and_bodies_only_on_request_and_masked(capture: Capture, server: str) -> None:
    capture.start(capture_headers="1", capture_bodies="1")
    requests.post(f"{server}/echo", json={"user": "bob", "password": "hunter2"},
                  headers={"Authorization": "Bearer s3cr3t", "X-Trace": "t1"}, timeout=5)
    call = capture.only_call()
    assert call["requestHeaders"]["Authorization"] == "REDACTED"
    assert call["requestHeaders"]["X-Trace"] == "t1"
    assert call["responseHeaders"]["Set-Cookie"] == "REDACTED"
    assert call["requestBody"] == '{"user": "bob", "password": "REDACTED"}'
    assert call["responseBody"] == call["requestBody"]


def test_no_headers_or_bodies_by_default(installed: Capture, server: str) -> None:
    requests.post(f"{server}/echo", data="password=hunter2",
                  headers={"Authorization": "Bearer s3cr3t"}, timeout=5)
    call = installed.only_call()
    assert "requestHeaders" not in call and "requestBody" not in call
    assert "s3cr3t" not in str(installed.collector.batches)
    assert "hunter2" not in str(installed.collector.batches)


def test_nothing_is_recorded_when_disabled(capture: Capture, server: str) -> None:
    from httprecap.internal import bootstrap

    assert not bootstrap.install({"HTTPRECAP_DISABLED": "1"})
    assert requests.get(f"{server}/ok", timeout=5).status_code == 200
    assert bootstrap.sender() is None
    assert not hasattr(requests.Session.send, "__wrapped__")


def test_urllib3_retries_inside_requests_are_attempts(installed: Capture, server: str) -> None:
    retries = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0)
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retries))
        assert session.get(f"{server}/flaky?key=requests", timeout=5).status_code == 200
    call = installed.only_call()
    assert call["library"] == "requests" and call["status"] == 200
    assert [a["status"] for a in call["attempts"]] == [503, 200]
