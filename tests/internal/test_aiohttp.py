"""Capture through aiohttp (ClientSession._request, ClientResponse.start): record fields,
redirects as attempts, failures and timeouts, asyncio attribution, exactly once, against real
loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import httpx
import pytest
from aiohttp import web
from truncating_server import DECLARED, PAUSE_S, SENT, TruncatingServer
from wire_support import WireProxy, WireUpstream

from httprecap import wire
from httprecap.internal import invocation

if TYPE_CHECKING:
    from conftest import Capture

T = TypeVar("T")
TRICKLE_S = 0.4


@pytest.fixture
def invocations() -> Iterator[None]:
    """Tests that move the process-global invocation state put it back to init."""
    yield
    invocation.reset()


def with_session(use: Callable[[aiohttp.ClientSession], Awaitable[T]], **options: Any) -> T:
    """Run `use(session)` on a new event loop with a session made with `options`."""
    async def main() -> T:
        async with aiohttp.ClientSession(**options) as session:
            return await use(session)

    return asyncio.run(main())


async def fetch(session: aiohttp.ClientSession, method: str, url: str, **options: Any) -> int:
    async with session.request(method, url, **options) as response:
        await response.read()
        return response.status


class AiohttpTransport(httpx.AsyncBaseTransport):
    """A user's httpx transport that sends through aiohttp (which httprecap also captures)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.session.request(request.method, str(request.url),
                                        allow_redirects=False) as answer:
            return httpx.Response(answer.status, headers=list(answer.headers.items()),
                                  content=await answer.read())


def test_record_has_every_call_field(installed: Capture, server: str) -> None:
    assert with_session(lambda s: fetch(s, "POST", f"{server}/echo?limit=5",
                                        data=b"12345")) == 200
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
    assert call["library"] == "aiohttp" and call["thread"] == "MainThread"
    assert call["requestId"] == wire.INIT_REQUEST_ID
    assert call["attempts"] == [] and call["aws"] is None
    assert call["durationMs"] >= 0 and call["startedAtUs"] > 1_600_000_000_000_000


def test_json_body_size_is_what_was_sent(installed: Capture, server: str) -> None:
    with_session(lambda s: fetch(s, "POST", f"{server}/echo", json={"a": 1}))
    assert installed.only_call()["bytesSent"] == len(b'{"a": 1}')


def test_url_is_the_one_requested_with_base_url_and_params(installed: Capture,
                                                           server: str) -> None:
    with_session(lambda s: fetch(s, "GET", "/ok", params={"page": "2"}), base_url=server)
    assert installed.only_call()["url"] == f"{server}/ok?page=2"


def test_redirects_are_attempts_of_one_call(installed: Capture, server: str) -> None:
    assert with_session(lambda s: fetch(s, "GET",
                                        f"{server}/redirect?to=/redirect%3Fto%3D/ok")) == 200
    call = installed.only_call()
    assert call["status"] == 200 and call["path"] == "/redirect"
    assert [a["status"] for a in call["attempts"]] == [302, 302, 200]
    assert call["attempts"][-1]["url"] == f"{server}/ok"
    ends = [a["startedAtUs"] + a["durationMs"] * 1000 for a in call["attempts"]]
    assert ends == sorted(ends) and call["attempts"][0]["startedAtUs"] == call["startedAtUs"]


def test_redirect_to_a_refused_port_lists_the_failed_hop(installed: Capture,
                                                         server: str) -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        with_session(lambda s: fetch(s, "GET", f"{server}/redirect?to=http://127.0.0.1:9/x"))
    call = installed.only_call()
    assert call["status"] is None and call["error"]["type"] == "ClientConnectorError"
    assert [(a["status"], a["url"]) for a in call["attempts"]] == [
        (302, f"{server}/redirect?to=http://127.0.0.1:9/x"), (None, "http://127.0.0.1:9/x")]
    assert call["attempts"][1]["error"]["type"] == "ClientConnectorError"


def test_raise_for_status_keeps_the_status(installed: Capture, server: str) -> None:
    with pytest.raises(aiohttp.ClientResponseError):
        with_session(lambda s: fetch(s, "GET", f"{server}/status/503"),
                     raise_for_status=True)
    call = installed.only_call()
    assert call["status"] == 503 and call["error"]["type"] == "ClientResponseError"
    assert call["attempts"] == []


def test_too_many_redirects(installed: Capture, server: str) -> None:
    with pytest.raises(aiohttp.TooManyRedirects):
        with_session(lambda s: fetch(s, "GET", f"{server}/redirect?to=/redirect",
                                     max_redirects=1))
    call = installed.only_call()
    assert call["error"]["type"] == "TooManyRedirects"
    assert call["status"] == 302 and call["attempts"] == []


def test_exception_object_passes_through_unchanged(installed: Capture, server: str) -> None:
    raised = KeyError("user's own")

    async def check(response: aiohttp.ClientResponse) -> None:
        raise raised

    with pytest.raises(KeyError) as caught:
        with_session(lambda s: fetch(s, "GET", f"{server}/ok"), raise_for_status=check)
    assert caught.value is raised
    call = installed.only_call()
    assert call["error"]["type"] == "KeyError"
    assert call["status"] == 200 and call["attempts"] == []  # no hop of its own


def test_total_timeout(installed: Capture, server: str) -> None:
    with pytest.raises(asyncio.TimeoutError):
        with_session(lambda s: fetch(s, "GET", f"{server}/slow?ms=500",
                                     timeout=aiohttp.ClientTimeout(total=0.1)))
    call = installed.only_call()
    assert call["error"]["type"] == "TimeoutError" and call["status"] is None


def test_read_timeout(installed: Capture, server: str) -> None:
    with pytest.raises(aiohttp.SocketTimeoutError):
        with_session(lambda s: fetch(s, "GET", f"{server}/slow?ms=500",
                                     timeout=aiohttp.ClientTimeout(sock_read=0.1)))
    assert installed.only_call()["error"]["type"] == "SocketTimeoutError"


def test_refused_connection(installed: Capture) -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        with_session(lambda s: fetch(s, "GET", "http://127.0.0.1:9/"))
    call = installed.only_call()
    assert call["error"]["type"] == "ClientConnectorError"
    assert "127.0.0.1:9" in call["error"]["message"] and call["attempts"] == []


def test_dropped_connection(installed: Capture, server: str) -> None:
    with pytest.raises(aiohttp.ServerDisconnectedError):
        with_session(lambda s: fetch(s, "GET", f"{server}/drop"))
    call = installed.only_call()
    assert call["error"]["type"] == "ServerDisconnectedError"
    # aiohttp retries an idempotent request once on a dropped connection: two attempts
    assert [a["error"]["type"] for a in call["attempts"]] == ["ServerDisconnectedError"] * 2


def test_calls_succeed_when_the_extension_is_gone(capture: Capture, server: str) -> None:
    capture.start(port="9")  # nothing listens there
    assert with_session(lambda s: fetch(s, "GET", f"{server}/ok")) == 200


def test_duration_ends_at_the_head_and_the_call_waits_for_its_body(installed: Capture) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "11"})
        await response.prepare(request)
        await asyncio.sleep(TRICKLE_S)
        await response.write(b"hello world")
        return response

    async def main() -> tuple[list[dict[str, Any]], bytes]:
        app = web.Application()
        app.router.add_get("/", trickle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session, \
                    session.get(f"http://127.0.0.1:{port}/") as response:
                seen = await asyncio.to_thread(installed.calls)  # body still on its way
                return seen, await response.read()
        finally:
            await runner.cleanup()

    seen, body = asyncio.run(main())
    assert body == b"hello world" and seen == []  # the body might yet break
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"], call["error"]) == (200, 11, None)
    assert call["durationMs"] < TRICKLE_S * 1000


def test_gathered_calls_each_carry_the_invocation_s_request_id(
        installed: Capture, server: str, invocations: None) -> None:
    async def two_invocations() -> None:
        # Fewer connections than calls: the server's listen backlog is small, and calls
        # waiting for a connection are open calls all the same.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
            for tag in ("req-a", "req-b"):
                await one_invocation(session, tag)

    async def one_invocation(session: aiohttp.ClientSession, tag: str) -> None:
        invocation.begin(tag)
        statuses = await asyncio.gather(*(
            fetch(session, "GET", f"{server}/slow?ms={i % 7}&inv={tag}&i={i}")
            for i in range(50)))
        assert statuses == [200] * 50

    asyncio.run(two_invocations())
    calls = installed.calls()
    assert len(calls) == 100
    for call in calls:
        assert f"inv={call['requestId']}" in call["url"]
    assert len({c["url"] for c in calls}) == 100


def test_event_loop_kept_across_invocations_does_not_keep_the_old_id(
        installed: Capture, server: str, invocations: None) -> None:
    loop = asyncio.new_event_loop()
    session: aiohttp.ClientSession = loop.run_until_complete(_new_session())

    async def handler(tag: str) -> None:
        await asyncio.gather(*(fetch(session, "GET", f"{server}/ok?via={tag}")
                               for _ in range(3)))

    try:
        for tag in ("req-a", "req-b"):
            invocation.begin(tag)
            loop.run_until_complete(handler(tag))
        loop.run_until_complete(session.close())
    finally:
        loop.close()
    assert sorted((c["url"].rsplit("via=", 1)[1], c["requestId"]) for c in installed.calls()) \
        == [("req-a", "req-a")] * 3 + [("req-b", "req-b")] * 3


async def _new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


def test_httpx_over_an_aiohttp_transport_is_counted_once(installed: Capture,
                                                         server: str) -> None:
    async def main(session: aiohttp.ClientSession) -> int:
        async with httpx.AsyncClient(transport=AiohttpTransport(session),
                                     follow_redirects=True) as client:
            return (await client.get(f"{server}/redirect?to=/ok")).status_code

    assert with_session(main) == 200
    call = installed.only_call()
    assert call["library"] == "httpx"
    assert [a["status"] for a in call["attempts"]] == [302, 200]


def test_headers_only_on_request_and_masked(capture: Capture, server: str) -> None:
    capture.start(capture_headers="1", capture_bodies="1")
    with_session(lambda s: fetch(s, "POST", f"{server}/echo", data=b"password=hunter2",
                                 headers={"Authorization": "Bearer s3cr3t", "X-Trace": "t1"}))
    call = capture.only_call()
    assert call["requestHeaders"]["Authorization"] == "REDACTED"
    assert call["requestHeaders"]["X-Trace"] == "t1"
    assert call["responseHeaders"]["Set-Cookie"] == "REDACTED"
    assert call["requestBody"] == "password=REDACTED"
    assert "responseBody" not in call  # read by the user after the record is complete


def test_no_headers_or_bodies_by_default(installed: Capture, server: str) -> None:
    with_session(lambda s: fetch(s, "POST", f"{server}/echo?token=abc", data=b"hunter2",
                                 headers={"Authorization": "Bearer s3cr3t"}))
    call = installed.only_call()
    assert "requestHeaders" not in call and "requestBody" not in call
    assert call["url"] == f"{server}/echo?token=REDACTED"
    for secret in ("s3cr3t", "hunter2", "abc"):
        assert secret not in str(installed.collector.batches)


def test_uninstall_restores_the_session(capture: Capture) -> None:
    from httprecap.internal import bootstrap

    capture.start()
    assert hasattr(aiohttp.ClientSession._request, "__wrapped__")
    bootstrap.uninstall()
    assert not hasattr(aiohttp.ClientSession._request, "__wrapped__")
    assert not hasattr(aiohttp.ClientResponse.start, "__wrapped__")


@pytest.fixture(scope="module")
def truncating() -> Iterator[TruncatingServer]:
    with TruncatingServer() as server:
        yield server


def test_body_broken_midway_is_the_call_s_error(installed: Capture,
                                                truncating: TruncatingServer) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        with_session(lambda s: fetch(s, "GET", f"{truncating.url}/close"))
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "ClientPayloadError"
    assert f"received {SENT} of {DECLARED} bytes" in call["error"]["message"]


def test_body_broken_while_read_in_chunks(installed: Capture,
                                          truncating: TruncatingServer) -> None:
    async def chunks(session: aiohttp.ClientSession) -> int:
        async with session.get(f"{truncating.url}/slow") as response:
            return sum([len(chunk) async for chunk in response.content.iter_chunked(10)])

    with pytest.raises(aiohttp.ClientPayloadError):
        with_session(chunks)
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "ClientPayloadError"
    assert call["durationMs"] < PAUSE_S * 1000  # to the head


def test_body_released_unread_is_no_error(installed: Capture,
                                          truncating: TruncatingServer) -> None:
    async def status_only(session: aiohttp.ClientSession) -> int:
        async with session.get(f"{truncating.url}/slow") as response:
            return response.status

    assert with_session(status_only) == 200
    call = installed.only_call()
    assert (call["status"], call["error"], call["bytesReceived"]) == (200, None, DECLARED)


def test_unread_body_is_handed_over_before_its_invocation_s_end(
        installed: Capture, truncating: TruncatingServer, invocations: None) -> None:
    async def forgotten(session: aiohttp.ClientSession) -> aiohttp.ClientResponse:
        response = await session.get(f"{truncating.url}/slow")
        assert await asyncio.to_thread(installed.calls) == []
        invocation.end("success")  # the handler returned, its response never read
        return response

    with_session(forgotten)
    installed.collector.wait_for(lambda: bool(installed.collector.of_kind("end")))
    kinds = [m["k"] for m in installed.collector.messages]
    assert kinds.index("call") < kinds.index("end")
    assert installed.only_call()["status"] == 200


def test_proxy_is_noted_beside_the_target(installed: Capture, server: str) -> None:
    with WireProxy() as proxy:
        address = f"127.0.0.1:{proxy.port}"
        assert with_session(lambda s: fetch(s, "GET", f"{server}/ok?via=request",
                                            proxy=f"http://user:s3cr3t@{address}")) == 200
        assert with_session(lambda s: fetch(s, "GET", f"{server}/ok?via=session"),
                            proxy=f"http://{address}") == 200
        seen = [exchange.target for exchange in proxy.log.all()]
    assert seen == [f"{server}/ok?via=request", f"{server}/ok?via=session"]
    calls = [c for c in installed.calls() if c["library"] == "aiohttp"]
    assert [(c["url"], c["proxy"]) for c in calls] == [
        (f"{server}/ok?via=request", address), (f"{server}/ok?via=session", address)]
    assert "s3cr3t" not in str(installed.collector.batches)


def test_chunked_body_that_came_with_its_head_counts_what_came(installed: Capture) -> None:
    with WireUpstream() as wire:
        assert with_session(lambda s: fetch(s, "GET", f"{wire.url}/chunked?n=999")) == 200
    call = installed.only_call()  # no Content-Length to tell it
    assert (call["bytesReceived"], call["error"]) == (999, None)
