"""Capture through httpx (Client.send, AsyncClient.send): record fields, redirects and auth
rounds as attempts, streaming, errors, asyncio attribution, exactly once, against a real
loopback server (MockTransport only to raise an exception object of our choosing)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import urllib3
from truncating_server import DECLARED, PAUSE_S, SENT, TruncatingServer
from wire_support import WireProxy, WireUpstream

from httprecap import wire
from httprecap.internal import invocation

if TYPE_CHECKING:
    from conftest import Capture

TRICKLE_S = 0.4


class TrickleHandler(BaseHTTPRequestHandler):
    """Sends the head at once and the 11-byte body TRICKLE_S later."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "11")
        self.end_headers()
        self.wfile.flush()
        time.sleep(TRICKLE_S)
        self.wfile.write(b"hello world")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def trickle() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def truncating() -> Iterator[TruncatingServer]:
    with TruncatingServer() as server:
        yield server


@pytest.fixture
def invocations() -> Iterator[None]:
    """Tests that move the process-global invocation state put it back to init."""
    yield
    invocation.reset()


class Urllib3Transport(httpx.BaseTransport):
    """A user's httpx transport that sends through urllib3 (which httprecap also captures)."""

    def __init__(self) -> None:
        self.pool = urllib3.PoolManager()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.pool.request(request.method, str(request.url), body=request.read(),
                                   headers=dict(request.headers), redirect=False)
        return httpx.Response(answer.status, headers=list(answer.headers.items()),
                              content=answer.data)


def test_record_has_every_call_field(installed: Capture, server: str) -> None:
    httpx.post(f"{server}/echo?limit=5", content=b"12345", timeout=5)
    call = installed.only_call()
    wire.validate_call(call)
    assert set(call) == set(wire.CALL_FIELDS) - {
        "proxy", "tlsMs", "requestHeaders", "responseHeaders", "requestBody", "responseBody"}
    port = int(server.rsplit(":", 1)[1])
    assert call["method"] == "POST"
    assert (call["scheme"], call["host"], call["port"]) == ("http", "127.0.0.1", port)
    assert (call["path"], call["url"]) == ("/echo", f"{server}/echo?limit=5")
    assert call["status"] == 200 and call["error"] is None
    assert (call["bytesSent"], call["bytesReceived"]) == (5, 5)
    assert call["library"] == "httpx" and call["thread"] == "MainThread"
    assert call["requestId"] == wire.INIT_REQUEST_ID
    assert call["attempts"] == [] and call["aws"] is None
    assert call["durationMs"] >= 0 and call["startedAtUs"] > 1_600_000_000_000_000


def test_async_call_has_the_same_record(installed: Capture, server: str) -> None:
    async def post() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(f"{server}/echo", content=b"12345")

    asyncio.run(post())
    call = installed.only_call()
    assert (call["library"], call["method"], call["path"]) == ("httpx", "POST", "/echo")
    assert (call["status"], call["bytesSent"], call["bytesReceived"]) == (200, 5, 5)


def test_redirects_followed_are_attempts_of_one_call(installed: Capture, server: str) -> None:
    response = httpx.get(f"{server}/redirect?to=/redirect%3Fto%3D/ok", follow_redirects=True,
                         timeout=5)
    assert response.status_code == 200
    call = installed.only_call()
    assert call["status"] == 200 and call["path"] == "/redirect"
    assert [a["status"] for a in call["attempts"]] == [302, 302, 200]
    assert call["attempts"][-1]["url"] == f"{server}/ok"


def test_async_redirects_are_attempts_of_one_call(installed: Capture, server: str) -> None:
    async def get() -> None:
        async with httpx.AsyncClient(timeout=5, follow_redirects=True) as client:
            await client.get(f"{server}/redirect?to=/ok")

    asyncio.run(get())
    call = installed.only_call()
    assert [a["status"] for a in call["attempts"]] == [302, 200]
    assert call["status"] == 200


def test_redirect_not_followed_is_the_call_s_answer(installed: Capture, server: str) -> None:
    assert httpx.get(f"{server}/redirect?to=/ok", timeout=5).status_code == 302
    call = installed.only_call()
    assert call["status"] == 302 and call["attempts"] == []


class TwoRounds(httpx.Auth):
    """An auth flow that sends a second request after the first answer (as digest does)."""

    def __init__(self, second: str) -> None:
        self.second = second

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        response = yield request
        if response.status_code == 200:
            yield httpx.Request("GET", self.second)


def test_auth_rounds_are_attempts(installed: Capture, server: str) -> None:
    httpx.get(f"{server}/ok", auth=TwoRounds(f"{server}/status/204"), timeout=5)
    call = installed.only_call()
    assert [a["status"] for a in call["attempts"]] == [200, 204]
    assert call["status"] == 204


def test_streamed_response_duration_ends_at_the_head(installed: Capture, trickle: str) -> None:
    with httpx.Client(timeout=5) as client, client.stream("GET", f"{trickle}/") as response:
        assert installed.calls() == []  # its body might yet break
        assert response.read() == b"hello world"
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"], call["error"]) == (200, 11, None)
    assert call["durationMs"] < TRICKLE_S * 1000


def test_streamed_body_broken_midway_is_the_call_s_error(
        installed: Capture, truncating: TruncatingServer) -> None:
    with httpx.Client(timeout=5) as client, \
            client.stream("GET", f"{truncating.url}/close") as response, \
            pytest.raises(httpx.RemoteProtocolError):
        for _ in response.iter_bytes():
            pass
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "RemoteProtocolError"
    assert f"received {SENT} bytes, expected {DECLARED}" in call["error"]["message"]


def test_async_streamed_body_broken_midway_is_the_call_s_error(
        installed: Capture, truncating: TruncatingServer) -> None:
    async def stream() -> None:
        async with httpx.AsyncClient(timeout=5) as client, \
                client.stream("GET", f"{truncating.url}/slow") as response:
            async for _ in response.aiter_bytes():
                pass

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(stream())
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "RemoteProtocolError"
    assert call["durationMs"] < PAUSE_S * 1000


def test_stream_left_open_is_handed_over_before_its_invocation_s_end(
        installed: Capture, trickle: str, invocations: None) -> None:
    client = httpx.Client(timeout=5)
    response = client.send(client.build_request("GET", f"{trickle}/"), stream=True)
    assert installed.calls() == []
    invocation.end("success")
    installed.collector.wait_for(lambda: bool(installed.collector.of_kind("end")))
    kinds = [m["k"] for m in installed.collector.messages]
    assert kinds.index("call") < kinds.index("end")
    assert installed.only_call()["bytesReceived"] == 11  # declared: not read
    response.close()
    client.close()


def test_proxy_is_noted_beside_the_target(installed: Capture, server: str) -> None:
    with WireProxy() as proxy:
        address = f"127.0.0.1:{proxy.port}"
        assert httpx.get(f"{server}/ok?via=proxy", proxy=f"http://user:s3cr3t@{address}",
                         timeout=5).status_code == 200
        seen = [exchange.target for exchange in proxy.log.all()]
    assert seen == [f"{server}/ok?via=proxy"]
    (call,) = [c for c in installed.calls() if c["library"] == "httpx"]
    assert (call["url"], call["proxy"]) == (f"{server}/ok?via=proxy", address)
    assert "s3cr3t" not in str(installed.collector.batches)


def test_unstreamed_response_includes_the_body(installed: Capture, trickle: str) -> None:
    httpx.get(f"{trickle}/", timeout=5)
    call = installed.only_call()
    assert call["durationMs"] >= TRICKLE_S * 1000 and call["bytesReceived"] == 11


def test_async_stream_never_read_still_yields_its_record(installed: Capture,
                                                         trickle: str) -> None:
    async def open_stream() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            request = client.build_request("GET", f"{trickle}/")
            response = await client.send(request, stream=True)
            await response.aclose()

    asyncio.run(open_stream())
    assert installed.only_call()["status"] == 200


def test_timeout(installed: Capture, server: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server}/slow?ms=500", timeout=0.1)
    call = installed.only_call()
    assert call["error"]["type"] == "ReadTimeout" and call["status"] is None


def test_async_timeout(installed: Capture, server: str) -> None:
    async def get() -> None:
        async with httpx.AsyncClient(timeout=0.1) as client:
            await client.get(f"{server}/slow?ms=500")

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(get())
    assert installed.only_call()["error"]["type"] == "ReadTimeout"


def test_task_cancelled_by_wait_for_is_recorded(installed: Capture, server: str) -> None:
    async def get() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await asyncio.wait_for(client.get(f"{server}/slow?ms=500"), 0.1)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(get())
    assert installed.only_call()["error"]["type"] == "CancelledError"


def test_refused_connection(installed: Capture) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:9/", timeout=5)
    error = installed.only_call()["error"]
    assert error["type"] == "ConnectError" and "refused" in error["message"].lower()


def test_dropped_connection(installed: Capture, server: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server}/drop", timeout=5)
    assert installed.only_call()["error"]["type"] == "RemoteProtocolError"


def test_exception_object_passes_through_unchanged(installed: Capture) -> None:
    raised = httpx.ConnectError("boom")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise raised

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client, \
            pytest.raises(httpx.ConnectError) as caught:
        client.get("https://api.example.com/x")
    assert caught.value is raised
    assert installed.only_call()["error"] == {"type": "ConnectError", "message": "boom"}


def test_async_exception_object_passes_through_unchanged(installed: Capture) -> None:
    raised = KeyError("user's own")

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise raised

    async def get() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            await client.get("https://api.example.com/x")

    with pytest.raises(KeyError) as caught:
        asyncio.run(get())
    assert caught.value is raised
    assert installed.only_call()["error"]["type"] == "KeyError"


def test_gathered_calls_each_carry_the_invocation_s_request_id(
        installed: Capture, server: str, invocations: None) -> None:
    async def gather(client: httpx.AsyncClient, tag: str) -> list[int]:
        responses = await asyncio.gather(*(
            client.get(f"{server}/slow?ms={i % 7}&inv={tag}&i={i}") for i in range(50)))
        return [r.status_code for r in responses]

    async def two_invocations() -> None:
        # Fewer connections than calls: the server's listen backlog is small, and calls
        # waiting for a connection are open calls all the same.
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=8)) \
                as client:
            for tag in ("req-a", "req-b"):
                invocation.begin(tag)
                assert await gather(client, tag) == [200] * 50

    asyncio.run(two_invocations())
    calls = installed.calls()
    assert len(calls) == 100
    for call in calls:
        assert f"inv={call['requestId']}" in call["url"]
    assert sorted(c["url"] for c in calls) == sorted({c["url"] for c in calls})


def test_event_loop_kept_across_invocations_does_not_keep_the_old_id(
        installed: Capture, server: str, invocations: None) -> None:
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(timeout=5)
    go = asyncio.Event()

    async def background() -> None:  # created in invocation a, calls out during b
        await go.wait()
        await client.get(f"{server}/ok?via=background")

    async def handler(tag: str) -> None:
        await asyncio.gather(*(client.get(f"{server}/ok?via={tag}") for _ in range(3)))

    try:
        invocation.begin("req-a")
        task = loop.create_task(background())
        loop.run_until_complete(handler("req-a"))
        invocation.begin("req-b")
        go.set()
        loop.run_until_complete(handler("req-b"))
        loop.run_until_complete(task)
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()
    by_via = sorted((c["url"].rsplit("via=", 1)[1], c["requestId"]) for c in installed.calls())
    assert by_via == [("background", "req-b")] + [("req-a", "req-a")] * 3 + \
        [("req-b", "req-b")] * 3


def test_a_call_spanning_two_invocations_keeps_the_id_it_started_in(
        installed: Capture, server: str, invocations: None) -> None:
    async def slow_call_then_next_invocation() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            slow = asyncio.ensure_future(client.get(f"{server}/slow?ms=200"))
            await asyncio.sleep(0.05)
            invocation.begin("req-b")
            await slow

    invocation.begin("req-a")
    asyncio.run(slow_call_then_next_invocation())
    assert installed.only_call()["requestId"] == "req-a"


def test_urllib3_transport_is_counted_once(installed: Capture, server: str) -> None:
    with httpx.Client(transport=Urllib3Transport(), follow_redirects=True) as client:
        assert client.get(f"{server}/redirect?to=/ok").status_code == 200
    call = installed.only_call()
    assert call["library"] == "httpx"
    assert [a["status"] for a in call["attempts"]] == [302, 200]


def test_threads_each_record_their_own_calls(installed: Capture, server: str) -> None:
    with httpx.Client(timeout=5) as client:
        threads = [threading.Thread(target=client.get, args=(f"{server}/ok?t={n}",),
                                    name=f"worker-{n}") for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    calls = installed.calls()
    assert sorted((c["thread"], c["url"][-3:]) for c in calls) == [
        (f"worker-{n}", f"t={n}") for n in range(4)]


def test_url_secrets_are_redacted(installed: Capture, server: str) -> None:
    url = server.replace("://", "://user:pw@") + "/ok?X-Amz-Signature=abc&page=2&token=t"
    httpx.get(url, timeout=5)
    call = installed.only_call()
    assert call["url"] == f"{server}/ok?X-Amz-Signature=REDACTED&page=2&token=REDACTED"
    assert "pw" not in str(installed.collector.batches)


def test_headers_and_bodies_only_on_request_and_masked(capture: Capture, server: str) -> None:
    capture.start(capture_headers="1", capture_bodies="1")
    httpx.post(f"{server}/echo", json={"user": "bob", "password": "hunter2"},
               headers={"Authorization": "Bearer s3cr3t", "X-Trace": "t1"}, timeout=5)
    call = capture.only_call()  # httpx gives header names in lower case
    assert call["requestHeaders"]["authorization"] == "REDACTED"
    assert call["requestHeaders"]["x-trace"] == "t1"
    assert call["responseHeaders"]["set-cookie"] == "REDACTED"
    assert "hunter2" not in call["requestBody"] and '"user":"bob"' in call["requestBody"]
    assert call["responseBody"] == call["requestBody"]


def test_no_headers_or_bodies_by_default(installed: Capture, server: str) -> None:
    httpx.post(f"{server}/echo", content=b"password=hunter2",
               headers={"Authorization": "Bearer s3cr3t"}, timeout=5)
    call = installed.only_call()
    assert "requestHeaders" not in call and "requestBody" not in call
    assert "s3cr3t" not in str(installed.collector.batches)
    assert "hunter2" not in str(installed.collector.batches)


def test_streamed_upload_counts_what_was_sent(installed: Capture, server: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"abc"
        yield b"de"

    httpx.post(f"{server}/echo", content=chunks(), timeout=5)
    call = installed.only_call()
    assert call["bytesSent"] == 5 and call["status"] == 200  # chunked: counted as sent


def test_a_sync_client_still_refuses_an_async_body(installed: Capture, server: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"hello"

    with httpx.Client(timeout=5) as client, pytest.raises(RuntimeError):
        client.post(f"{server}/", content=chunks())


def test_an_async_client_still_refuses_a_sync_body(installed: Capture, server: str) -> None:
    async def post() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(f"{server}/", content=iter([b"hello"]))

    with pytest.raises(RuntimeError):
        asyncio.run(post())


def test_calls_succeed_when_the_extension_is_gone(capture: Capture, server: str) -> None:
    capture.start(port="9")  # nothing listens there

    async def get() -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{server}/ok")).status_code

    assert httpx.get(f"{server}/ok", timeout=5).status_code == 200
    assert asyncio.run(get()) == 200


def test_uninstall_restores_send(capture: Capture) -> None:
    from httprecap.internal import bootstrap

    capture.start()
    assert hasattr(httpx.AsyncClient.send, "__wrapped__")
    bootstrap.uninstall()
    assert not hasattr(httpx.Client.send, "__wrapped__")
    assert not hasattr(httpx.AsyncClient._send_single_request, "__wrapped__")


def test_capture_is_loaded_and_patched_when_the_client_is_imported() -> None:
    code = ("import sys; from httprecap.internal import bootstrap; "
            "bootstrap.install({'HTTPRECAP_PORT': '9'}); "
            "assert not [m for m in sys.modules if m.endswith(('httpx', 'aiohttp', "
            "'asynccall'))], sorted(sys.modules); "
            "import httpx, aiohttp; "
            "print(hasattr(httpx.AsyncClient.send, '__wrapped__'), "
            "hasattr(aiohttp.ClientSession._request, '__wrapped__'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.split() == ["True", "True"]


@pytest.fixture(scope="module")
def wire_upstream() -> Iterator[WireUpstream]:
    with WireUpstream() as server:
        yield server


def test_streamed_chunked_body_read_to_its_end_counts_what_came(
        installed: Capture, wire_upstream: WireUpstream) -> None:
    with httpx.Client(timeout=5) as client, \
            client.stream("GET", f"{wire_upstream.url}/chunked?n=888") as response:
        assert sum(len(piece) for piece in response.iter_raw()) == 888
    call = installed.only_call()  # no Content-Length to tell it
    assert (call["bytesReceived"], call["error"]) == (888, None)


def test_stream_closed_midway_is_no_error(installed: Capture,
                                          wire_upstream: WireUpstream) -> None:
    with httpx.Client(timeout=5) as client, \
            client.stream("GET", f"{wire_upstream.url}/chunked?n=100000") as response:
        for _ in response.iter_raw(1000):
            break
    call = installed.only_call()
    assert (call["status"], call["error"], call["bytesReceived"]) == (200, None, None)


def test_compressed_body_counts_the_bytes_that_came(installed: Capture,
                                                     wire_upstream: WireUpstream) -> None:
    response = httpx.get(f"{wire_upstream.url}/gzip?n=5000", timeout=5)
    assert len(response.content) == 5000
    assert installed.only_call()["bytesReceived"] == response.num_bytes_downloaded < 5000
