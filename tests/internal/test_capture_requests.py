"""Capture through requests (Session.send): record fields, redirects, errors, exactly once."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import responses
import urllib3
from requests.auth import HTTPDigestAuth

from httprecap import wire

if TYPE_CHECKING:
    from conftest import Capture


def test_record_has_every_call_field(installed: Capture, server: str) -> None:
    requests.post(f"{server}/echo?limit=5", data=b"12345", timeout=5)
    call = installed.only_call()
    wire.validate_call(call)
    assert set(call) == set(wire.CALL_FIELDS) - {
        "proxy", "tlsMs", "requestHeaders", "responseHeaders", "requestBody", "responseBody"}
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
def test_a_call_answered_by_responses_leaves_no_trace(installed: Capture) -> None:
    # Slower than the sender's notice threshold: not even a `start` notice goes out for it.
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        time.sleep(0.15)
        return 201, {}, "{}"

    responses.add_callback(responses.GET, "https://api.example.com/items", callback=answer)
    assert requests.get("https://api.example.com/items", timeout=5).status_code == 201
    assert installed.calls() == [] and installed.collector.of_kind("start") == []


def test_a_call_failing_before_the_wire_keeps_its_error(installed: Capture) -> None:
    with pytest.raises(requests.exceptions.InvalidSchema):
        requests.Session().send(requests.Request("GET", "gopher://example.com/").prepare())
    call = installed.only_call()
    assert (call["status"], call["error"]["type"]) == (None, "InvalidSchema")


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


def _send_in_hook(send: Callable[[str], object], url: str) -> requests.Session:
    def hook(response: requests.Response, **kwargs: object) -> None:
        send(url)

    session = requests.Session()
    session.hooks["response"].append(hook)
    return session


@pytest.mark.parametrize("inner", ["requests", "urllib3"])
def test_a_call_made_in_a_response_hook_is_a_call_of_its_own(
        installed: Capture, server: str, inner: str) -> None:
    send = (lambda url: requests.get(url, timeout=5)) if inner == "requests" else \
        (lambda url: urllib3.PoolManager().request("GET", url))
    with _send_in_hook(send, f"{server}/status/404") as session:
        assert session.post(f"{server}/echo", data=b"12345", timeout=5).status_code == 200
    hooked, outer = installed.calls()
    assert (hooked["library"], hooked["path"], hooked["status"]) == (inner, "/status/404", 404)
    assert (outer["library"], outer["method"], outer["path"]) == ("requests", "POST", "/echo")
    assert (outer["status"], outer["bytesSent"], outer["bytesReceived"]) == (200, 5, 5)
    assert outer["attempts"] == [] and hooked["attempts"] == []


def test_a_digest_auth_resend_is_an_attempt_of_its_call(installed: Capture) -> None:
    # HTTPDigestAuth resends from its response hook, through the adapter: the same call.
    with _AuthServer() as url:
        response = requests.get(f"{url}/private", auth=HTTPDigestAuth("user", "pass"), timeout=5)
    assert response.status_code == 200
    call = installed.only_call()
    assert call["status"] == 200
    assert [a["status"] for a in call["attempts"]] == [401, 200]


def test_a_body_sent_from_a_file_counts_its_length(installed: Capture, server: str,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "body.bin"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as body:
        requests.post(f"{server}/echo", data=body, timeout=5)
    assert installed.only_call()["bytesSent"] == 1000


def test_a_chunked_body_counts_what_was_sent(installed: Capture, server: str) -> None:
    requests.post(f"{server}/ok", data=iter([b"abc"]), timeout=5)
    assert installed.only_call()["bytesSent"] == 3


class _AuthServer:
    """A loopback server whose every path wants digest auth (401, then 200)."""

    def __enter__(self) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if "Authorization" in self.headers:
                    self._reply(200, b"secret", ())
                else:
                    self._reply(401, b"", (("WWW-Authenticate",
                                             'Digest realm="r", nonce="n1", qop="auth"'),))

            def _reply(self, status: int, body: bytes,
                       headers: tuple[tuple[str, str], ...]) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
