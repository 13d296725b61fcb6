"""The ship budget and the retry queue, with real sinks against real (misbehaving) receivers."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator

import pytest
from ext_support import Receiver

from httprecap.external.ship.http_post import HttpSink
from httprecap.external.ship.shipper import Backoff, Shipper
from httprecap.external.ship.stdout import NOW_MARGIN, StdoutSink, pipe_room

BUDGET = 0.1


def _recap(request_id: str) -> dict[str, object]:
    return {"type": "httprecap.recap", "requestId": request_id, "calls": []}


def _delivered(receiver: Receiver) -> list[str]:
    return [r["requestId"] for body in receiver.bodies for r in json.loads(body)]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (in the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_a_sink_that_never_answers_holds_shipping_no_longer_than_the_budget(
        silent_port: int) -> None:
    import io

    stream = io.BytesIO()
    shipper = Shipper([HttpSink(f"http://127.0.0.1:{silent_port}/", timeout=1.0),
                       StdoutSink(stream)], queue_limit=10)
    try:
        started = time.monotonic()
        shipper.ship([_recap("r1")], BUDGET)
        elapsed = time.monotonic() - started
        assert elapsed < BUDGET + 0.05
        assert json.loads(stream.getvalue())["requestId"] == "r1"  # the other sink delivered
        assert shipper.workers[0].pending == 1
    finally:
        shipper.stop()


def test_a_slow_sink_is_not_waited_for_and_never_gets_a_recap_twice(
        receiver: Receiver) -> None:
    receiver.delay = 0.3
    shipper = Shipper([HttpSink(receiver.url)], queue_limit=10, backoff=Backoff(0))
    try:
        started = time.monotonic()
        shipper.ship([_recap("r1")], BUDGET)
        assert time.monotonic() - started < BUDGET + 0.05
        receiver.received.wait(2.0)
        time.sleep(0.05)
        receiver.delay = 0.0
        shipper.ship([_recap("r2")], 1.0)
        assert _delivered(receiver) == ["r1", "r2"]
    finally:
        shipper.stop()


def test_what_failed_is_retried_on_the_next_round_exactly_once(receiver: Receiver) -> None:
    receiver.status = 503
    shipper = Shipper([HttpSink(receiver.url)], queue_limit=10, backoff=Backoff(0))
    try:
        shipper.ship([_recap("r1")], 1.0)
        assert _delivered(receiver) == [] and shipper.workers[0].pending == 1
        receiver.status = 200
        shipper.ship([_recap("r2")], 1.0)
        shipper.ship([_recap("r3")], 1.0)
        assert _delivered(receiver) == ["r1", "r2", "r3"]
        assert shipper.take_losses() == {}
    finally:
        shipper.stop()


def test_a_full_retry_queue_drops_the_oldest_and_counts_them(receiver: Receiver) -> None:
    receiver.status = 500
    shipper = Shipper([HttpSink(receiver.url)], queue_limit=2, backoff=Backoff(0))
    try:
        for n in range(5):
            shipper.ship([_recap(f"r{n}")], 1.0)
        assert shipper.take_losses() == {"sinkRetryQueueFull": 3}
        assert shipper.take_losses() == {}
        receiver.status = 200
        assert shipper.flush(time.monotonic() + 1.0) == {}
        assert _delivered(receiver) == ["r3", "r4"]
    finally:
        shipper.stop()


def test_a_resting_sink_is_skipped_until_shutdown_flushes_it(receiver: Receiver) -> None:
    receiver.status = 500
    shipper = Shipper([HttpSink(receiver.url)], queue_limit=10, backoff=Backoff(base=60.0))
    try:
        shipper.ship([_recap("r1")], 1.0)
        receiver.status = 200
        attempts = len(receiver.headers)
        started = time.monotonic()
        shipper.ship([_recap("r2")], 1.0)
        assert time.monotonic() - started < 0.05  # resting: no attempt, no wait
        assert len(receiver.headers) == attempts
        assert shipper.flush(time.monotonic() + 1.0) == {}
        assert _delivered(receiver) == ["r1", "r2"]
    finally:
        shipper.stop()


def test_flush_reports_what_could_not_be_delivered(silent_port: int) -> None:
    shipper = Shipper([HttpSink(f"http://127.0.0.1:{silent_port}/", timeout=1.0)],
                      queue_limit=10)
    try:
        shipper.ship([_recap("r1")], 0.01)
        assert shipper.flush(time.monotonic() + 0.1) == {f"http://127.0.0.1:{silent_port}/": 1}
    finally:
        shipper.stop()


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    return read_end, write_end


def test_stdout_with_room_in_its_pipe_ships_on_the_run_loops_thread() -> None:
    # A zero budget leaves a worker no time at all: only a recap written by the run loop's own
    # thread is in the pipe when `ship` returns.
    read_end, write_end = _pipe()
    with os.fdopen(read_end, "rb") as reader, os.fdopen(write_end, "wb") as writer:
        shipper = Shipper([StdoutSink(writer)], queue_limit=10)
        try:
            shipper.ship([_recap("r1")], 0.0)
            assert shipper.workers[0].pending == 0
            assert json.loads(reader.readline())["requestId"] == "r1"
        finally:
            shipper.stop()


def test_stdout_with_its_pipe_nearly_full_leaves_recaps_to_its_worker_in_order() -> None:
    read_end, write_end = _pipe()
    with os.fdopen(read_end, "rb") as reader, os.fdopen(write_end, "wb") as writer:
        sink = StdoutSink(writer)
        room = pipe_room(writer)  # (widens the pipe, as the first write would)
        assert room is not None and room > NOW_MARGIN
        filler = b"x" * (room - NOW_MARGIN // 2 - 1) + b"\n"
        os.set_blocking(write_end, False)  # a wrong `room` fails here instead of hanging
        assert os.write(write_end, filler) == len(filler)
        os.set_blocking(write_end, True)
        shipper = Shipper([sink], queue_limit=10)
        try:
            shipper.ship([_recap("r1")], 0.0)
            assert shipper.workers[0].pending == 1  # not written: it could have waited
            assert reader.readline() == filler  # the reader catches up
            shipper.ship([_recap("r2")], 2.0)  # the worker's queue first: r1, then r2
            lines = [json.loads(reader.readline())["requestId"] for _ in range(2)]
            assert lines == ["r1", "r2"] and shipper.workers[0].pending == 0
        finally:
            shipper.stop()
