"""Transport: batches the collector accepts, `end` hand-off, notices, drops, broken extension,
fork. The collector validates every batch with httprecap.wire.validate_batch."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from call_support import encoded_call

from httprecap.internal import bootstrap, invocation
from httprecap.internal.capture.call import Call, local
from httprecap.internal.transport import sender
from httprecap.internal.transport.buffer import Buffer
from httprecap.internal.transport.record import Attempt, End, Record

if TYPE_CHECKING:
    from conftest import Capture, Collector


def _flush() -> None:
    sender = bootstrap.sender()
    assert sender is not None and sender.flush(5.0)


def test_end_counts_the_invocations_calls(installed: Capture, server: str) -> None:
    invocation.begin("req-1")
    for _ in range(3):
        requests.get(f"{server}/ok", timeout=5)
    invocation.end("success")
    _flush()
    (end,) = installed.collector.of_kind("end")
    assert (end["requestId"], end["status"], end["calls"]) == ("req-1", "success", 3)
    assert end["dropped"] == {} and end["overheadUs"] >= 0
    assert end["startedAtUs"] <= installed.collector.calls()[0]["startedAtUs"]
    assert installed.collector.messages[0]["k"] == "hello"


def test_handing_off_the_end_does_not_wait_for_the_sender(installed: Capture) -> None:
    started = time.perf_counter()
    invocation.end("success")
    assert time.perf_counter() - started < 0.005


def test_quick_calls_are_posted_once_with_the_end(installed: Capture, server: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Posting wakes the extension, which would compete with the handler for the CPU: calls that
    # finish quickly wait for the invocation's end and go in one batch with it. (The hold is
    # lengthened so that a slow machine cannot reach it.)
    monkeypatch.setattr(sender, "HOLD_S", 30.0)
    _flush()  # the hello
    batches_before = len(installed.collector.batches)
    invocation.begin("req-1")
    with requests.Session() as session:
        for _ in range(5):
            session.get(f"{server}/ok", timeout=5)
    time.sleep(0.15)  # three ticks of the sender: nothing is due yet
    assert len(installed.collector.batches) == batches_before
    invocation.end("success")
    _flush()
    (batch,) = installed.collector.batches[batches_before:]
    # One `calls` message of five rows, then the `end`. The calls share two shapes: the
    # first call opened the connection (its row says so), the four others reused it.
    calls, end = batch["messages"]
    assert (calls["k"], len(calls["rows"]), end["k"]) == ("calls", 5, "end")
    assert [row[0] for row in calls["rows"]] == [0, 1, 1, 1, 1]
    assert calls["rows"][0][7]["connection"] == "new"
    assert calls["shapes"][1]["connection"] == "reused"


def test_finished_calls_are_held_for_a_bounded_time(installed: Capture, server: str) -> None:
    # No end and no slow call: the calls still reach the extension within the hold bound
    # (a process killed meanwhile loses at most that much).
    _flush()
    invocation.begin("req-1")
    finished = time.monotonic()
    requests.get(f"{server}/ok", timeout=5)
    installed.collector.wait_for(lambda: len(installed.collector.calls()) == 1, 2.0)
    waited = time.monotonic() - finished
    assert sender.HOLD_S <= waited + 0.01 < sender.HOLD_S + 5 * sender.TICK_S


def test_a_hanging_call_is_named_while_it_runs(installed: Capture, server: str) -> None:
    thread = threading.Thread(target=requests.get, args=(f"{server}/slow?ms=400",))
    thread.start()
    try:
        installed.collector.wait_for(lambda: bool(installed.collector.of_kind("start")), 2.0)
        assert thread.is_alive()
        (start,) = installed.collector.of_kind("start")
        assert start["call"]["path"] == "/slow" and installed.collector.calls() == []
    finally:
        thread.join()


def test_many_calls_are_split_into_valid_batches(installed: Capture) -> None:
    sender = bootstrap.sender()
    assert sender is not None
    for n in range(6000):
        call = Call("urllib3", local.slot)
        call.method, call.origin, call.target = "GET", ("https", "api.example.com", 443), f"/{n}"
        call.duration_ms = 1.0
        sender.buffer.put_call(call)
    _flush()
    assert len(installed.collector.calls()) == 6000
    assert len(installed.collector.batches) >= 2 and installed.collector.refused == []


def test_full_buffer_drops_and_counts() -> None:
    buffer = Buffer(capacity=100, batch_size=1000)
    for _ in range(150):
        buffer.put_call(Call("requests", local.slot))
    assert len(buffer.items) == 100
    assert buffer.take_dropped() == {"bufferFull": 50}
    assert buffer.take_dropped() == {}


def test_a_full_buffer_never_drops_an_end() -> None:
    # An `end` queued while the buffer is full is kept, also when it lands after a call that
    # found the buffer full (another thread's `end`, queued between its append and its drop).
    buffer = Buffer(capacity=3, batch_size=1000)
    for _ in range(3):
        buffer.put_call(Call("requests", local.slot))
    end = End("req-1", "success", 1, 1.0)
    buffer.put_control(end)
    buffer.put_call(Call("requests", local.slot))
    assert end in buffer.items and buffer.take_dropped() == {"bufferFull": 1}
    buffer.items.append(Call("requests", local.slot))
    buffer.items.append(end := End("req-2", "success", 1, 1.0))
    buffer._crowd(buffer.items)
    assert buffer.items[-1] is end and buffer.take_dropped() == {}


@pytest.fixture
def dead_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def _timed_calls(server: str, count: int = 20) -> float:
    started = time.perf_counter()
    with requests.Session() as session:
        for _ in range(count):
            session.get(f"{server}/ok", timeout=5)
    invocation.end("success")
    return time.perf_counter() - started


@pytest.mark.parametrize("broken", ["dead_port", "silent_port"])
def test_broken_extension_costs_the_caller_nothing(broken: str, request: pytest.FixtureRequest,
                                                   server: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    port = request.getfixturevalue(broken)
    try:
        baseline = _timed_calls(server)
        assert bootstrap.install({"HTTPRECAP_PORT": str(port)})
        captured = _timed_calls(server)
        time.sleep(0.3)  # let the sender fail and back off a few times
        captured_again = _timed_calls(server)
    finally:
        bootstrap.uninstall()
    # The sender blocks for up to a second on a silent extension; the caller must not.
    assert max(captured, captured_again) < 2 * baseline + 0.1
    lines = [line for line in capsys.readouterr().err.splitlines() if "httprecap" in line]
    if broken == "dead_port":
        assert len(lines) == 1 and "not answering" in lines[0]


def test_drops_while_the_extension_was_down_are_reported_later(capture: Capture,
                                                               collector: Collector,
                                                               server: str) -> None:
    capture.start()
    sender = bootstrap.sender()
    assert sender is not None
    collector.server.socket.close()  # the collector stops accepting connections
    sender.connection.close()
    requests.get(f"{server}/ok", timeout=5)
    sender.buffer.wake()  # post now (else after the hold)
    deadline = time.monotonic() + 2.0
    while sender.buffer.items and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert sender.buffer.take_dropped() == {"transport": 1}


def test_forked_child_says_hello_and_sends_its_own_calls(installed: Capture,
                                                         server: str) -> None:
    _flush()
    pid = os.fork()
    if pid == 0:  # the child: make one call, hand it over, leave without pytest's cleanup
        code = 1
        try:
            requests.get(f"{server}/ok?who=child", timeout=5)
            sender = bootstrap.sender()
            code = 0 if sender is not None and sender.flush(5.0) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    hellos = installed.collector.of_kind("hello")
    assert [h["pid"] for h in hellos] == [os.getpid(), pid]
    (call,) = installed.collector.calls()
    assert call["id"].startswith(f"{pid:x}-") and call["url"].endswith("who=child")


def test_a_record_built_without_capture_is_encoded_as_a_valid_wire_call() -> None:
    # Transport's input is its own `Record`: whatever builds one (capture's Call is one) is
    # encoded; what the record did not say (status, size) comes from its last attempt.
    api = ("https", "api.example.com", 443)
    record = Record()
    record.request_id, record.library = "req-1", "urllib3"
    record.thread = threading.current_thread()
    record.method, record.origin, record.target = "GET", api, "/v1/items?token=s3cret"
    record.duration_ms = 12.5
    record.attempts = [Attempt(1.7e15, 5.0, 503, None, api, "/v1/items?token=s3cret", None),
                       Attempt(1.7e15 + 6000, 6.5, 200, None, api, "/v1/items", 42)]
    call = encoded_call(record)
    assert (call["status"], call["bytesReceived"]) == (200, 42)
    assert [(a["status"], a["durationMs"]) for a in call["attempts"]] == [(503, 5.0), (200, 6.5)]
    assert "s3cret" not in json.dumps(call)
