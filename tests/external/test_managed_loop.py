"""The Lambda Managed Instances ship loop (external/managed.py): a recap after a quiet spell ships
at once; recaps completing while the loop rests after a round ship together in one round;
SHUTDOWN does not wait for the rest to end."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from ext_support import end_msg

from httprecap.external import managed
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.extension import Extension
from httprecap.external.lambda_api.telemetry import subscription
from httprecap.external.managed import ManagedLoop
from httprecap.external.mode import Mode
from httprecap.external.ship.shipper import Shipper
from httprecap.external.ship.sink_base import Entry, Sink
from httprecap.settings import Settings


class RecordingSink(Sink):
    name = "recording"

    def __init__(self) -> None:
        self.rounds: list[list[str]] = []
        self.sent = threading.Event()

    def send(self, entries: list[Entry]) -> list[Entry]:
        self.rounds.append([entry.recap.fields["requestId"] for entry in entries])
        self.sent.set()
        return []


def _loop() -> tuple[ManagedLoop, Aggregator, RecordingSink]:
    aggregator = Aggregator(100)
    sink = RecordingSink()
    extension = Extension(client=None, settings=Settings.from_environ({}),  # type: ignore[arg-type]
                          aggregator=aggregator, collector=None,  # type: ignore[arg-type]
                          shipper=Shipper([sink], 10))
    return ManagedLoop(extension), aggregator, sink


def _end(aggregator: Aggregator, request_id: str) -> None:
    message: dict[str, Any] = end_msg(request_id, 0)
    aggregator.apply([message])


def test_a_lone_recap_ships_at_once_and_a_burst_in_one_round(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(managed, "COALESCE_S", 1.0)  # a rest no loaded machine overruns
    loop, aggregator, sink = _loop()
    loop._thread.start()
    try:
        _end(aggregator, "a")
        assert sink.sent.wait(2.0)
        sink.sent.clear()
        for request_id in ("b", "c", "d"):  # while the loop rests after shipping "a"
            time.sleep(0.02)  # time enough for a loop that did not rest to ship each alone
            _end(aggregator, request_id)
        assert sink.sent.wait(2.0)
        assert sink.rounds == [["a"], ["b", "c", "d"]]
    finally:
        loop.stop()


def test_stop_ends_the_rest_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(managed, "COALESCE_S", 30.0)
    loop, aggregator, sink = _loop()
    loop._thread.start()
    _end(aggregator, "a")
    assert sink.sent.wait(2.0)
    started = time.monotonic()
    loop.stop()
    assert not loop._thread.is_alive()
    assert time.monotonic() - started < 5.0  # not the 30 s rest


@pytest.mark.parametrize(("environ", "wrapper_set", "expected"), [
    ({}, True, 1000),  # the hand-off tells each end: telemetry may wait (Lambda's default)
    ({}, False, 25),  # runtimeDone is the end
    ({"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}, True, 25),  # platform.start
])
def test_telemetry_buffering_is_relaxed_only_where_the_hand_off_tells_the_end(
        environ: dict[str, str], wrapper_set: bool, expected: int) -> None:
    mode = Mode(managed=Mode.from_environ(environ).managed, wrapper_set=wrapper_set)
    buffering_ms = mode.telemetry_buffering_ms
    assert buffering_ms == expected
    body = json.loads(subscription(9398, mode.schema, buffering_ms))
    assert body["buffering"]["timeoutMs"] == expected and body["types"] == ["platform"]


@pytest.mark.parametrize("buffering_ms", [24, 30001])
def test_telemetry_buffering_outside_the_api_bounds_is_refused(buffering_ms: int) -> None:
    with pytest.raises(ValueError, match=r"outside 25\.\.30000"):
        subscription(9398, buffering_ms=buffering_ms)
