"""The harness counts the call records httprecap's own collector accepted (after validation),
on a real loopback socket."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from ext_support import batch, call_msg, end_msg
from layer_support import free_port

from conformance.driver import CountingAggregator
from httprecap import wire
from httprecap.external.collect.collector import Collector


@pytest.fixture
def counted() -> Iterator[tuple[CountingAggregator, Collector, int]]:
    aggregator = CountingAggregator()
    collector = Collector(aggregator)
    port = free_port()
    server = collector.listen(port)
    try:
        yield aggregator, collector, port
    finally:
        server.stop()


def post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", wire.PATH, body, {"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_calls_are_counted_by_kind(counted: tuple[CountingAggregator, Collector, int]) -> None:
    aggregator, collector, port = counted
    assert post(port, batch(call_msg("init", "c1"), call_msg("init", "c2"),
                            end_msg("r1", calls=0))) == 202
    assert aggregator.kinds["call"] == 2
    assert aggregator.kinds["end"] == 1
    assert aggregator.targets["urllib3 api.example.com:443"] == 2
    assert collector.accepted == 1


def test_a_refused_batch_counts_no_record(
        counted: tuple[CountingAggregator, Collector, int]) -> None:
    aggregator, collector, port = counted
    assert post(port, b"not json") == 400
    assert post(port, json.dumps({"v": 99, "messages": []}).encode()) == 400
    assert aggregator.kinds["call"] == 0
    assert sum(collector.rejected.values()) == 2


def test_a_message_that_breaks_the_contract_is_dropped_not_counted(
        counted: tuple[CountingAggregator, Collector, int]) -> None:
    aggregator, _, port = counted
    broken = call_msg("init", "c2")
    del broken["call"]["host"]
    assert post(port, batch(call_msg("init", "c1"), broken)) == 202
    assert aggregator.kinds["call"] == 1
    assert aggregator.dropped == 1
