"""The collector on a real loopback socket: valid, invalid, oversized, truncated, garbage and
slow input. Whatever arrives, the listener keeps serving and other invocations stay intact."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ext_support import batch, call_msg, end_msg

from httprecap import wire
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import Collector
from httprecap.external.http11 import Connection, Server, ServerLimits

LIMITS = ServerLimits(max_body=wire.MAX_BODY_BYTES, max_connections=4, read_timeout=0.3,
                      idle_timeout=5.0)


@pytest.fixture
def collector() -> Iterator[tuple[Collector, Aggregator, Server]]:
    aggregator = Aggregator(100)
    collector = Collector(aggregator)
    server = collector.listen(0, LIMITS)
    yield collector, aggregator, server
    server.stop()


def _post(server: Server, body: bytes) -> int:
    connection = Connection("127.0.0.1", server.port)
    try:
        return connection.request("POST", wire.PATH, body, timeout=2.0).status
    finally:
        connection.close()


def _raw(server: Server, data: bytes, *, close_write: bool = True) -> bytes:
    """Send raw bytes; return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=3.0) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_listens_on_loopback_only(collector: tuple[Collector, Aggregator, Server]) -> None:
    assert collector[2].host == "127.0.0.1"


def test_valid_batch_is_accepted_and_aggregated(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    _, aggregator, server = collector
    assert _post(server, batch(call_msg("r1", "a"), end_msg("r1", 1))) == 202
    assert aggregator.completion("r1", 0.2)[0] == "handoff"
    assert aggregator.internal_active


def test_batches_share_one_kept_alive_connection(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    _, aggregator, server = collector
    connection = Connection("127.0.0.1", server.port)
    first = connection.request("POST", wire.PATH, batch(call_msg("r1", "a")), timeout=2.0)
    sock = connection._sock
    second = connection.request("POST", wire.PATH, batch(end_msg("r1", 1)), timeout=2.0)
    assert (first.status, second.status) == (202, 202)
    assert connection._sock is sock
    connection.close()
    assert aggregator.completion("r1", 0.2)[0] == "handoff"


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "notJson"),
    (b"\xff\xfe\x00garbage", "notJson"),
    (json.dumps({"v": 2, "messages": []}).encode(), "invalid"),
    (json.dumps({"v": 1, "messages": {"k": "call"}}).encode(), "invalid"),
    (json.dumps([1, 2, 3]).encode(), "invalid"),
])
def test_unreadable_batches_get_a_400_and_a_count(
        collector: tuple[Collector, Aggregator, Server], body: bytes, reason: str) -> None:
    instance, aggregator, server = collector
    assert _post(server, body) == 400
    assert instance.rejected[reason] == 1
    assert not aggregator.internal_active


def test_a_bad_message_costs_only_itself_counted_against_its_invocation(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    instance, aggregator, server = collector
    _post(server, batch(call_msg("r1", "a")))
    bad = batch(call_msg("r1", "b"), {"k": "call", "call": {"id": "c", "requestId": "r1"}},
                call_msg("r2", "x"))
    assert _post(server, bad) == 202
    _post(server, batch(end_msg("r1", 3)))
    assert aggregator.completion("r1", 0.2)[0] == "handoff"  # the bad call counts as received
    (recap,) = aggregator.take("r1")
    assert [c["id"] for c in recap["calls"]] == ["a", "b"]
    assert recap["dropped"] == {"count": 1, "reasons": {"invalidCall": 1}}
    assert instance.rejected == {}


@pytest.mark.parametrize("message", [
    {"k": "call", "call": {"id": "x"}},
    call_msg("init:12ab", "a"),  # a worker's init id is `init:<pid>` only
    end_msg("init:", 0),
    {"k": "nonsense"},
    {"k": "hello"},
    ["not", "an", "object"],
])
def test_a_message_naming_no_invocation_is_counted_by_the_collector_not_a_recap(
        collector: tuple[Collector, Aggregator, Server], message: Any) -> None:
    instance, aggregator, server = collector
    assert _post(server, batch(message, call_msg("r1", "a"), end_msg("r1", 1))) == 202
    (recap,) = aggregator.take("r1")
    assert [c["id"] for c in recap["calls"]] == ["a"]
    assert recap["dropped"]["count"] == 0
    assert sum(instance.rejected.values()) == 1


def test_the_reason_is_one_line(collector: tuple[Collector, Aggregator, Server]) -> None:
    reply = _raw(collector[2], b"POST /v1/batch HTTP/1.1\r\nContent-Length: 2\r\n"
                               b"Connection: close\r\n\r\n{}")
    assert _status(reply) == 400
    assert reply.split(b"\r\n\r\n", 1)[1] == b"batch: unsupported version None\n"


def test_oversized_body_is_refused_from_its_length_before_reading(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    instance, _, server = collector
    head = f"POST /v1/batch HTTP/1.1\r\nContent-Length: {wire.MAX_BODY_BYTES + 1}\r\n\r\n"
    started = time.monotonic()
    reply = _raw(server, head.encode(), close_write=False)  # no body is ever sent
    assert _status(reply) == 413
    assert time.monotonic() - started < 0.25
    assert instance.rejected["tooLarge"] == 1


def test_truncated_body_is_dropped_when_the_client_goes_away(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    _, aggregator, server = collector
    body = batch(call_msg("r1", "a"), end_msg("r1", 1))
    _raw(server, b"POST /v1/batch HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
         + body[: len(body) // 2])
    assert aggregator.take_all() == []
    assert _post(server, batch(end_msg("r2", 0))) == 202  # still serving


def test_garbage_instead_of_http_gets_a_400(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    instance, _, server = collector
    assert _status(_raw(server, b"\x16\x03\x01 hello garbage\r\n\r\n")) == 400
    assert instance.rejected["malformedHead"] == 1


def test_missing_length_and_wrong_path_and_method(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    server = collector[2]
    assert _status(_raw(server, b"POST /v1/batch HTTP/1.1\r\n\r\n")) == 411
    assert _status(_raw(server, b"POST /other HTTP/1.1\r\nContent-Length: 0\r\n\r\n")) == 404
    assert _status(_raw(server, b"GET /v1/batch HTTP/1.1\r\n\r\n")) == 405


def test_slow_client_is_cut_off_at_the_read_deadline(
        collector: tuple[Collector, Aggregator, Server]) -> None:
    instance, _, server = collector
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=3.0) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\n")
        with pytest.raises(OSError):
            for _ in range(40):  # a byte every 50 ms: each read is quick, the request is not
                time.sleep(0.05)
                sock.sendall(b"X")
        reply = sock.recv(4096)
    assert reply == b"" or _status(reply) == 408
    assert time.monotonic() - started < 1.5
    assert instance.rejected["readTimeout"] == 1


def test_connections_are_bounded(collector: tuple[Collector, Aggregator, Server]) -> None:
    instance, _, server = collector
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        time.sleep(0.1)
        assert _status(_raw(server, b"")) == 429
        assert instance.rejected["tooManyConnections"] == 1
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.1)
    assert _post(server, batch(end_msg("r1", 0))) == 202
