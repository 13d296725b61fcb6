"""Capture through the standard library (http.client, urllib.request): redirects as attempts,
bodies read after the call (broken midway, unread, dropped), forward proxies."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from truncating_server import DECLARED, PAUSE_S, SENT, TruncatingServer
from wire_support import WireProxy, WireUpstream, self_signed

from httprecap.internal import invocation

if TYPE_CHECKING:
    from conftest import Capture, Collector


def test_urllib_request_call(installed: Capture, server: str) -> None:
    with urllib.request.urlopen(f"{server}/echo?token=t", data=b"abcd", timeout=5) as reply:
        assert reply.read() == b"abcd"
    call = installed.only_call()
    assert (call["library"], call["method"], call["status"]) == ("http.client", "POST", 200)
    assert (call["bytesSent"], call["bytesReceived"]) == (4, 4)
    assert call["url"] == f"{server}/echo?token=REDACTED"


def test_urllib_request_redirects_are_attempts_of_one_call(installed: Capture,
                                                           server: str) -> None:
    url = f"{server}/redirect?to=/redirect%3Fto%3D/ok"
    with urllib.request.urlopen(url, timeout=5) as reply:
        assert reply.read() == b"hello world"
    call = installed.only_call()
    assert (call["method"], call["url"], call["status"]) == ("GET", url, 200)
    assert call["bytesReceived"] == 11 and call["library"] == "http.client"
    assert [(a["status"], a["url"]) for a in call["attempts"]] == [
        (302, url), (302, f"{server}/redirect?to=/ok"), (200, f"{server}/ok")]


def test_urllib_request_redirect_to_a_refused_port(installed: Capture, server: str) -> None:
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{server}/redirect?to=http://127.0.0.1:9/x", timeout=5)
    call = installed.only_call()
    assert call["status"] is None and call["error"]["type"] == "URLError"
    assert [(a["status"], a["error"] and a["error"]["type"]) for a in call["attempts"]] == [
        (302, None), (None, "ConnectionRefusedError")]


def test_urllib_request_http_error_keeps_its_status(installed: Capture, server: str) -> None:
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{server}/status/404", timeout=5)
    call = installed.only_call()
    assert (call["status"], call["error"]["type"]) == (404, "HTTPError")


def test_urllib_request_of_a_data_url_is_no_call(installed: Capture) -> None:
    assert urllib.request.urlopen("data:,hello").read() == b"hello"
    assert installed.calls() == []


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
    error = installed.only_call()["error"]  # the exception the caller saw, naming its reason
    assert error["type"] == "URLError" and "Connection refused" in error["message"]


def test_refused_connection_through_http_client(installed: Capture) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", 9, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        connection.request("GET", "/")
    assert installed.only_call()["error"]["type"] == "ConnectionRefusedError"


def test_dropped_connection(installed: Capture, server: str) -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        urllib.request.urlopen(f"{server}/drop", timeout=5)
    assert installed.only_call()["error"]["type"] == "RemoteDisconnected"


def test_dns_failure(installed: Capture) -> None:
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://nonexistent.invalid/", timeout=5)
    call = installed.only_call()
    assert call["error"]["type"] == "URLError" and call["host"] == "nonexistent.invalid"


def test_runtime_api_traffic_is_not_a_call(capture: Capture, server: str) -> None:
    from httprecap.internal import bootstrap

    address = server.removeprefix("http://")
    assert bootstrap.install({"HTTPRECAP_PORT": str(capture.collector.port),
                              "AWS_LAMBDA_RUNTIME_API": address})
    urllib.request.urlopen(f"{server}/ok", timeout=5).read()
    assert capture.calls() == []


def _callers_calls(capture: Capture) -> list[dict[str, Any]]:
    """The calls this thread made (not the in-process proxy's own, made on its threads)."""
    return [call for call in capture.calls() if call["thread"] == "MainThread"]


@pytest.fixture(scope="module")
def truncating() -> Iterator[TruncatingServer]:
    with TruncatingServer() as server:
        yield server


@pytest.fixture
def invocations() -> Iterator[None]:
    """Tests that end the init phase put the process-global invocation state back."""
    yield
    invocation.reset()


def test_body_broken_midway_is_the_call_s_error(installed: Capture,
                                                truncating: TruncatingServer) -> None:
    with pytest.raises(http.client.IncompleteRead):
        urllib.request.urlopen(f"{truncating.url}/close", timeout=5).read()
    call = installed.only_call()
    assert call["status"] == 200 and call["bytesReceived"] == SENT
    assert call["error"] == {"type": "IncompleteRead",
                             "message": f"IncompleteRead({SENT} bytes read, "
                                        f"{DECLARED - SENT} more expected)"}


def test_body_reset_midway_is_the_call_s_error(installed: Capture,
                                               truncating: TruncatingServer) -> None:
    with urllib.request.urlopen(f"{truncating.url}/reset", timeout=5) as reply, \
            pytest.raises(ConnectionResetError):
        reply.read()
    call = installed.only_call()
    assert call["status"] == 200 and call["error"]["type"] == "ConnectionResetError"
    assert call["bytesReceived"] is not None and call["bytesReceived"] <= SENT


def test_body_read_in_pieces_that_ends_short_is_an_incomplete_read(
        installed: Capture, truncating: TruncatingServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", truncating.port, timeout=5)
    connection.request("GET", "/pieces")
    reply = connection.getresponse()
    received = b"".join(iter(lambda: reply.read(30), b""))  # http.client raises nothing here
    assert len(received) == SENT
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "IncompleteRead"


def test_streamed_body_duration_ends_at_the_head(installed: Capture,
                                                 truncating: TruncatingServer) -> None:
    reply = urllib.request.urlopen(f"{truncating.url}/slow", timeout=5)
    assert len(reply.read(SENT)) == SENT
    reply.close()
    call = installed.only_call()
    assert call["durationMs"] < PAUSE_S * 1000 and call["error"] is None
    assert call["bytesReceived"] == DECLARED  # closed before its end: the size declared


def test_body_read_line_by_line_counts_every_byte(installed: Capture, server: str) -> None:
    with urllib.request.urlopen(f"{server}/echo", data=b"a\nbb\nccc", timeout=5) as reply:
        assert list(reply) == [b"a\n", b"bb\n", b"ccc"]
    call = installed.only_call()
    assert (call["bytesReceived"], call["error"]) == (8, None)


def test_response_keeps_its_class_name_and_drops_the_follower_at_the_end(
        installed: Capture, server: str) -> None:
    reply = urllib.request.urlopen(f"{server}/ok", timeout=5)
    assert repr(reply).startswith("<http.client.HTTPResponse object")
    assert isinstance(reply, http.client.HTTPResponse)
    reply.read()
    assert type(reply) is http.client.HTTPResponse and not vars(reply).get("_httprecap_body")


def test_unread_body_is_handed_over_before_its_invocation_s_end(
        installed: Capture, server: str, invocations: None) -> None:
    reply = urllib.request.urlopen(f"{server}/ok", timeout=5)
    assert installed.calls() == []  # its body may yet break
    invocation.end("success")
    installed.collector.wait_for(lambda: bool(installed.collector.of_kind("end")))
    kinds = [m["k"] for m in installed.collector.messages]
    assert kinds.index("call") < kinds.index("end")
    assert installed.collector.of_kind("end")[0]["calls"] == 1
    assert installed.only_call()["bytesReceived"] == 11  # declared: nobody read it
    assert reply.read() == b"hello world"
    assert len(installed.calls()) == 1


def test_dropped_response_is_handed_over_at_once(installed: Capture, server: str) -> None:
    reply = urllib.request.urlopen(f"{server}/ok", timeout=5)
    sock = reply.fp.raw._sock
    del reply  # never read nor closed: its socket still closes without the cyclic collector
    assert sock.fileno() == -1
    assert installed.only_call()["status"] == 200


def test_request_through_a_forward_proxy_names_its_target(installed: Capture,
                                                           server: str) -> None:
    with WireProxy() as proxy:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": f"http://user:s3cr3t@127.0.0.1:{proxy.port}"}))
        assert opener.open(f"{server}/ok?via=proxy", timeout=5).read() == b"hello world"
        seen = [exchange.target for exchange in proxy.log.all()]
    assert seen == [f"{server}/ok?via=proxy"]  # absolute-form, as a forward proxy gets it
    (call,) = _callers_calls(installed)
    port = int(server.rsplit(":", 1)[1])
    assert (call["scheme"], call["host"], call["port"], call["path"]) == (
        "http", "127.0.0.1", port, "/ok")
    assert call["url"] == f"{server}/ok?via=proxy"
    assert call["proxy"] == f"127.0.0.1:{proxy.port}"
    assert "s3cr3t" not in str(installed.collector.batches)


def test_tls_through_a_proxy_tunnel_names_its_target(installed: Capture,
                                                      tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    context = ssl.create_default_context(cafile=str(certificate.cert))
    with WireUpstream(tls=certificate) as upstream, WireProxy() as proxy:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"https": f"http://127.0.0.1:{proxy.port}"}),
            urllib.request.HTTPSHandler(context=context))
        opener.open(f"https://localhost:{upstream.port}/bytes?n=5", timeout=5).read()
        assert [e.method for e in proxy.log.all()] == ["CONNECT"]
    call = installed.only_call()
    assert (call["scheme"], call["host"], call["port"], call["path"]) == (
        "https", "localhost", upstream.port, "/bytes")
    assert call["proxy"] == f"127.0.0.1:{proxy.port}" and call["bytesReceived"] == 5


def test_direct_call_has_no_proxy(installed: Capture, server: str) -> None:
    urllib.request.urlopen(f"{server}/ok", timeout=5).read()
    assert "proxy" not in installed.only_call()


class _KeepsAnError(http.client.HTTPConnection):
    """A connection whose getresponse raises and keeps an exception on its way (as libraries
    keep the error of an attempt they retried): its traceback keeps the callers' frames."""

    kept: list[BaseException] = []

    def getresponse(self) -> http.client.HTTPResponse:
        try:
            raise OSError("kept")
        except OSError as exc:
            _KeepsAnError.kept.append(exc)
        return super().getresponse()


def test_a_kept_traceback_does_not_keep_the_response(installed: Capture, server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    connection = _KeepsAnError("127.0.0.1", port, timeout=5)
    connection.request("GET", "/ok")
    reply = connection.getresponse()
    assert reply.read() == b"hello world"
    connection.close()  # (which lets go of its response)
    alive = weakref.ref(reply)
    del reply
    assert alive() is None  # at once, not at the cyclic collector's next run
    _KeepsAnError.kept.clear()
    assert installed.only_call()["status"] == 200


def test_unread_body_s_call_is_handed_over_at_exit(collector: Collector, server: str) -> None:
    code = ("import sys, urllib.request; from httprecap.internal import bootstrap; "
            "bootstrap.install({'HTTPRECAP_PORT': sys.argv[1]}); "
            "KEPT = urllib.request.urlopen(sys.argv[2], timeout=5)")
    subprocess.run([sys.executable, "-c", code, str(collector.port), f"{server}/ok?exit=1"],
                   check=True, timeout=60)
    collector.wait_for(lambda: bool(collector.calls()))
    assert [c["url"] for c in collector.calls()] == [f"{server}/ok?exit=1"]


def test_absolute_form_to_the_target_itself_has_no_proxy(installed: Capture,
                                                         server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", f"{server}/ok?form=absolute")
    assert connection.getresponse().read() == b"hello world"
    connection.close()
    call = installed.only_call()
    assert call["url"] == f"{server}/ok?form=absolute" and "proxy" not in call
