"""Hostile input on the collector's port of a running extension (the built layer, in the
sandbox): garbage, arbitrary and truncated JSON, wrong versions, lying lengths, huge bodies,
unknown request ids, slow-loris and idle connections, and a flood from a second process.
Every answer is a 4xx or a closed connection (429 when every connection slot is taken),
the extension never crashes, its memory stays bounded, and the recaps of the invocations that
run meanwhile are exact.

The environment is not frozen between invocations here (`freeze=False`), so the collector is
exposed for the whole test, not only while an invocation runs: the harsher case.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_support import (
    Figures,
    ProcStats,
    invoke_recaps,
    layer_env,
    recaps_in,
    sandbox_for,
    sandbox_processes,
)

from httprecap import wire
from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import Sandbox

pytestmark = pytest.mark.e2e

CALLS = 10
RSS_GROWTH_BOUND_KB = 32 * 1024  # whatever arrives, the extension grows by less than this
READ_TIMEOUT_S = 2.0  # the collector's per-request read deadline (collect/collector.py)
EXAMPLES = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


class Target:
    """The running sandbox whose collector is attacked, and what it must keep doing."""

    def __init__(self, sandbox: Sandbox, port: int, sink: Path) -> None:
        self.sandbox = sandbox
        self.port = port
        self.sink = sink
        self.extension = sandbox_processes(sandbox)["extension"]
        self.start_rss_kb = ProcStats(self.extension).rss_kb
        self.invocations = 0
        self.replies: dict[str, int] = {}

    def count(self, status: int | None) -> None:
        key = "closed" if status is None else str(status)
        self.replies[key] = self.replies.get(key, 0) + 1

    def assert_serving(self) -> None:
        """The same extension process is alive and the next invocation's recap is exact."""
        assert sandbox_processes(self.sandbox).get("extension") == self.extension
        result = self.sandbox.invoke({"calls": CALLS, "tag": f"check={self.invocations}"})
        self.invocations += 1
        assert result.ok
        recap = invoke_recaps(recaps_in(self.sink))[result.request_id]
        assert len(recap["calls"]) == CALLS
        assert recap["dropped"]["count"] == 0, recap["dropped"]
        assert ProcStats(self.extension).rss_kb - self.start_rss_kb < RSS_GROWTH_BOUND_KB


@pytest.fixture(scope="module")
def target(layer_zip: Path, upstream: UpstreamServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    sink = tmp_path_factory.mktemp("abuse") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("work", [layer_zip], env, timeout_s=10, freeze=False) as sandbox:
        assert sandbox.invoke({"calls": CALLS, "tag": "warm"}).ok
        yield Target(sandbox, int(env["HTTPRECAP_PORT"]), sink)


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data`, close our side, return everything the server says until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server closed first: that is an answer too
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def _status(reply: bytes) -> int | None:
    if not reply:
        return None
    assert reply.startswith(b"HTTP/1.1 "), reply[:80]
    return int(reply.split(b" ", 2)[1])


def _post(port: int, body: bytes, length: int | None = None) -> int | None:
    head = (f"POST {wire.PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode()
    return _status(_exchange(port, head + body))


def _refused(status: int | None) -> bool:
    return status is None or 400 <= status < 500


def _call(request_id: str, n: int) -> dict[str, Any]:
    return {"k": "call", "call": {"id": f"x-{n}", "requestId": request_id, "startedAtUs": 1,
                                  "method": "GET", "host": "h", "url": "http://h/"}}


def _batch(messages: list[Any], version: Any = wire.VERSION) -> bytes:
    return json.dumps({"v": version, "pid": 1, "seq": 1, "messages": messages}).encode()


# ---------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)


@EXAMPLES
@given(data=st.binary(max_size=4096))
def test_garbage_gets_a_4xx_or_a_closed_connection(target: Target, data: bytes) -> None:
    status = _status(_exchange(target.port, data))
    target.count(status)
    assert _refused(status)


@EXAMPLES
@given(body=JSON)
def test_arbitrary_json_is_refused_unless_it_is_a_batch(target: Target, body: Any) -> None:
    status = _post(target.port, json.dumps(body).encode())
    target.count(status)
    assert status == 400 or (status == 202 and isinstance(body, dict)
                             and body.get("v") == wire.VERSION)


@EXAMPLES
@given(version=JSON, kinds=st.lists(st.sampled_from([*wire.KINDS, "x", None]), max_size=4),
       extra=st.dictionaries(st.sampled_from(["call", "requestId", "status", "calls", "pid"]),
                             JSON, max_size=4))
def test_wrong_versions_and_malformed_messages_are_refused(
        target: Target, version: Any, kinds: list[Any], extra: dict[str, Any]) -> None:
    messages = [{"k": kind, **extra} for kind in kinds]
    status = _post(target.port, _batch(messages, version))
    target.count(status)
    if version != wire.VERSION:
        assert status == 400
    else:
        assert status in (202, 400)


@EXAMPLES
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_truncated_json_is_refused(target: Target, cut: int) -> None:
    whole = _batch([_call(str(uuid.uuid4()), n) for n in range(40)])
    status = _post(target.port, whole[: cut % len(whole)])
    target.count(status)
    assert status == 400


def test_a_body_shorter_than_its_length_is_dropped_unapplied(target: Target) -> None:
    request_id = str(uuid.uuid4())
    body = _batch([_call(request_id, 1)])
    assert _refused(_post(target.port, body, length=len(body) + 100))
    target.assert_serving()


def test_huge_bodies_are_refused(target: Target, figures: Figures) -> None:
    started = time.monotonic()
    assert _post(target.port, b"", length=wire.MAX_BODY_BYTES + 1) == 413  # never read
    refused_by_length_s = time.monotonic() - started
    deep = _post(target.port, b"[" * (wire.MAX_BODY_BYTES - 1))
    long_string = _post(target.port, _batch(["x" * (wire.MAX_BODY_BYTES - 100)]))
    many = _post(target.port, _batch([{"k": "hello", "pid": 1}] * (wire.MAX_MESSAGES + 1)))
    figures.record("collector-huge-bodies", tooLargeStatus=413, deepNestingStatus=deep,
                   longStringStatus=long_string, tooManyMessagesStatus=many,
                   refusedByLengthMs=round(refused_by_length_s * 1000, 1))
    assert (deep, many) == (400, 400)
    assert long_string == 202  # a readable batch: the oversized message alone is dropped
    target.assert_serving()


# ---------------------------------------------------------------------------- connections


def test_slow_and_idle_connections_are_cut_off_and_never_hold_up_recaps(
        target: Target, figures: Figures) -> None:
    """40 connections that trickle a byte every 0.2 s and 40 that send nothing: each is cut
    off by the read deadline, and the invocations meanwhile keep exact recaps (the function
    process's kept-alive connection is never starved)."""
    closed_after: list[float] = []
    lock = threading.Lock()

    def trickle(idle: bool) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
            try:
                for byte in b"" if idle else b"POST /v1/batch HTTP/1.1\r\nContent-Length: 10\r\n":
                    if time.monotonic() - started > 8:
                        break
                    sock.sendall(bytes([byte]))
                    time.sleep(0.2)
                while sock.recv(4096):
                    pass
            except OSError:
                pass  # reset by the server: cut off
        with lock:
            closed_after.append(time.monotonic() - started)

    threads = [threading.Thread(target=trickle, args=(n % 2 == 0,)) for n in range(80)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        target.assert_serving()
    for thread in threads:
        thread.join(30)
    figures.record("collector-slow-loris", connections=80,
                   cutOffAfterSMax=round(max(closed_after), 2),
                   cutOffAfterSMedian=round(sorted(closed_after)[len(closed_after) // 2], 2))
    assert len(closed_after) == 80
    assert max(closed_after) < READ_TIMEOUT_S + 3.0
    assert _refused(_post(target.port, b"{}"))  # a new connection is served again
    target.assert_serving()


FLOOD = r"""
import json, random, socket, sys, threading, time, uuid
port, seconds, limit = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
sent = [0]
def body():
    if random.random() < 0.5:
        return bytes(random.randrange(256) for _ in range(random.randrange(1, 300)))
    rid = str(uuid.uuid4())
    msgs = [{"k": "call", "call": {"id": str(n), "requestId": rid, "startedAtUs": 1,
             "method": "GET", "host": "h", "url": "http://h/"}} for n in range(20)]
    return json.dumps({"v": 1, "pid": 1, "seq": 1, "messages": msgs}).encode()
def run():
    end = time.monotonic() + seconds
    while time.monotonic() < end and sent[0] < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
                payload = body()
                sock.sendall(b"POST /v1/batch HTTP/1.1\r\nContent-Length: %d\r\n\r\n"
                             % len(payload) + payload)
                sock.recv(4096)
        except OSError:
            pass
        sent[0] += 1
threads = [threading.Thread(target=run) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sent[0])
"""


def test_a_flood_from_another_process_leaves_the_invocations_recaps_exact(
        target: Target, figures: Figures) -> None:
    seconds, limit = 6.0, 20_000
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(target.port), str(seconds),
                              str(limit)], stdout=subprocess.PIPE, text=True)
    try:
        checked = 0
        started = time.monotonic()
        while flood.poll() is None and time.monotonic() - started < seconds:
            target.assert_serving()
            checked += 1
        out, _ = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    target.assert_serving()
    stats = ProcStats(target.extension)
    figures.record("collector-flood", requests=int(out.strip() or 0), seconds=seconds,
                   invocationsDuringFlood=checked, rssGrowthKb=stats.rss_kb - target.start_rss_kb,
                   threads=stats.threads, fds=stats.fds)
    assert checked >= 3


def test_every_reply_seen_was_a_4xx_a_202_or_a_close(target: Target, figures: Figures) -> None:
    figures.record("collector-properties", replies=dict(target.replies),
                   rssGrowthKb=ProcStats(target.extension).rss_kb - target.start_rss_kb)
    assert set(target.replies) <= {"closed", "202", "400", "404", "405", "408", "411",
                                   "413", "429"}
    target.assert_serving()
