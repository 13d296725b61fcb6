"""A function process that dies mid-invocation: the collector sees its connection close and the
process gone, and the invocations it was running complete at once, as failures. A connection
closed by a live process (idle, a reply error, a fork) ends nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from ext_support import batch, call_msg, clocked_aggregator, end_msg, invoke, start_msg

from httprecap import wire
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import Collector, process_gone
from httprecap.external.http11 import Connection, Server

HANDOFF = 0.2


def test_the_classic_runtimes_death_fails_the_invocation_it_was_running() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init", "i"), end_msg("init", 1)], pid=7)
    invoke(agg, "r1")
    agg.process_gone(7)
    assert agg.completion("r1", HANDOFF)[0] == "processGone"
    init, recap = agg.take("r1")
    assert (init["status"], recap["status"]) == ("success", "failure")


def test_the_classic_runtime_is_known_as_such_after_later_invocations() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("init", 0)], pid=7)
    invoke(agg, "r1")
    agg.apply([call_msg("r1", "a"), end_msg("r1", 1)], pid=7)
    agg.take("r1")
    invoke(agg, "r2")  # dies before posting anything for it
    agg.process_gone(7)
    assert agg.completion("r2", HANDOFF)[0] == "processGone"


def test_the_classic_runtimes_death_noticed_before_its_invoke_fails_that_invocation() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("init", 0)], pid=7)
    invoke(agg, "r1")
    agg.apply([call_msg("r1", "a"), end_msg("r1", 1)], pid=7)
    agg.take("r1")
    agg.process_gone(7)  # it died at once on r2, before its INVOKE reached the extension
    invoke(agg, "r2")
    assert agg.completion("r2", HANDOFF)[0] == "processGone"
    (recap,) = agg.take("r2")
    assert recap["status"] == "failure"


def test_a_new_runtime_after_a_death_is_not_taken_for_dead() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("init", 0)], pid=7)
    agg.process_gone(7)
    agg.apply([end_msg("init", 0)], pid=8)  # the environment was reset: a new runtime
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] is None


def test_a_dead_worker_fails_only_the_invocations_it_posted_for() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("init:7", 0)], pid=7)
    agg.apply([end_msg("init:8", 0)], pid=8)
    agg.apply([start_msg("r1", "a")], pid=7)
    agg.apply([start_msg("r2", "b")], pid=8)
    agg.apply([call_msg("r3", "c"), end_msg("r3", 1)], pid=7)
    agg.process_gone(7)
    assert agg.completion("r1", HANDOFF)[0] == "processGone"
    assert agg.completion("r2", HANDOFF)[0] is None
    assert agg.completion("r3", HANDOFF)[0] == "handoff"
    (recap,) = agg.take("r1")
    assert recap["status"] == "failure" and recap["calls"][0]["inFlight"] is True


def test_a_process_killed_at_its_deadline_timed_out() -> None:
    agg, clock = clocked_aggregator()
    agg.apply([end_msg("init", 0)], pid=7)
    invoke(agg, "r1", deadline_in_s=3.0)
    clock.now += 2.95
    agg.process_gone(7)
    assert agg.completion("r1", HANDOFF)[0] == "deadline"


def test_an_out_of_memory_kill_is_a_failure_as_telemetry_names_it() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("init", 0)], pid=7)
    invoke(agg, "r1")
    agg.apply_telemetry([{"type": "platform.runtimeDone", "record": {
        "requestId": "r1", "status": "error", "errorType": "Runtime.OutOfMemory"}}])
    agg.process_gone(7)
    assert agg.take("r1")[0]["status"] == "failure"


@pytest.fixture
def collector() -> Iterator[tuple[Aggregator, Server]]:
    aggregator = Aggregator(100)
    server = Collector(aggregator).listen(0)
    yield aggregator, server
    server.stop()


POSTER = """
import os, sys
from httprecap.external.http11 import Connection
port, body = int(sys.argv[1]), sys.stdin.buffer.read().replace(b"PID", str(os.getpid()).encode())
Connection("127.0.0.1", port).request("POST", "/v1/batch", body, timeout=2.0)
os._exit(1)  # the connection is still open: only the kernel closes it
"""


def test_a_process_that_dies_with_its_connection_open_fails_its_invocation(
        collector: tuple[Aggregator, Server]) -> None:
    aggregator, server = collector
    aggregator.on_invoke({"requestId": "r1", "deadlineMs": time.time() * 1000 + 60_000})
    body = batch(end_msg("init", 0), start_msg("r1", "hang"), pid=0).replace(b'"pid": 0',
                                                                            b'"pid": PID')
    subprocess.run([sys.executable, "-c", POSTER, str(server.port)], input=body, check=False,
                   timeout=30)
    started = time.monotonic()
    assert aggregator.wait_complete("r1", HANDOFF) == "processGone"
    assert time.monotonic() - started < 1.0
    assert aggregator.take("r1")[0]["status"] == "failure"


def test_a_live_process_closing_its_connection_ends_nothing(
        collector: tuple[Aggregator, Server]) -> None:
    aggregator, server = collector
    connection = Connection("127.0.0.1", server.port)
    connection.request("POST", wire.PATH, batch(end_msg("init", 0), start_msg("r1", "a")),
                       timeout=2.0)
    connection.close()
    time.sleep(0.5)  # longer than the collector's patience with a dying process
    assert aggregator.completion("r1", HANDOFF)[0] is None


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while not os.path.exists(f"/proc/{child.pid}") or _state(child.pid) != "Z":
        time.sleep(0.01)
    assert process_gone(child.pid, 0.0)
    child.wait()
    assert process_gone(child.pid, 0.0)
    assert not process_gone(os.getpid(), 0.0)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rpartition(b")")[2].split()[0].decode()
