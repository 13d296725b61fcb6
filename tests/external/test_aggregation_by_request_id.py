"""Aggregation keyed by request id: out-of-order, concurrent and late data; completion rules.

Unit tests: the Aggregator is fed messages directly, with a fake clock; no sockets.
"""

from __future__ import annotations

import threading

from ext_support import call_msg, clocked_aggregator, end_msg, invoke, start_msg

from httprecap.external.aggregate.recap import HINT_NO_WRAPPER
from httprecap.external.aggregate.store import Aggregator

HANDOFF = 0.2


def test_complete_when_end_and_every_counted_call_arrived() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=2)])
    assert agg.completion("r1", HANDOFF)[0] is None
    agg.apply([call_msg("r1", "b", offset_ms=5)])
    assert agg.completion("r1", HANDOFF) == ("handoff", None)
    [recap] = agg.take("r1")
    assert [c["id"] for c in recap["calls"]] == ["a", "b"]
    assert recap["status"] == "success" and recap["traceId"] == "Root=1-abc"


def test_data_before_the_invoke_event_lands_in_the_right_recap() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=1)])
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] == "handoff"
    assert [c["id"] for c in agg.take("r1")[0]["calls"]] == ["a"]


def test_interleaved_invocations_never_mix() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("r2", "x"), call_msg("r1", "a"), end_msg("r2", 1),
               call_msg("r1", "b"), end_msg("r1", 2)])
    assert [c["id"] for c in agg.take("r1")[-1]["calls"]] == ["a", "b"]
    assert [c["id"] for c in agg.take("r2")[-1]["calls"]] == ["x"]


def test_concurrent_senders_land_every_call_in_its_own_recap() -> None:
    agg, _ = clocked_aggregator(max_calls=10_000)
    ids = [f"r{n}" for n in range(8)]

    def send(request_id: str) -> None:
        for n in range(200):
            agg.apply([call_msg(request_id, f"{request_id}-{n}", offset_ms=n)])
        agg.apply([end_msg(request_id, 200)])

    threads = [threading.Thread(target=send, args=(rid,)) for rid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for request_id in ids:
        assert agg.completion(request_id, HANDOFF)[0] == "handoff"
        calls = agg.take(request_id)[-1]["calls"]
        assert len(calls) == 200
        assert {c["id"].split("-")[0] for c in calls} == {request_id}


def test_a_resent_call_counts_once() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("r1", "a"), call_msg("r1", "a"), end_msg("r1", 2)])
    assert agg.completion("r1", HANDOFF)[0] is None
    assert len(agg.take("r1")[0]["calls"]) == 1


def test_finished_call_replaces_its_start_notice() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([start_msg("r1", "a"), call_msg("r1", "a", duration_ms=7.0), end_msg("r1", 1)])
    [recap] = agg.take("r1")
    assert len(recap["calls"]) == 1
    assert recap["calls"][0]["durationMs"] == 7.0 and "inFlight" not in recap["calls"][0]


def test_counted_calls_that_never_come_are_reported_after_the_handoff_timeout() -> None:
    agg, clock = clocked_aggregator()
    invoke(agg, "r1")
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=3)])
    reason, wake = agg.completion("r1", HANDOFF)
    assert reason is None and wake == clock.now + HANDOFF
    clock.now += HANDOFF
    assert agg.completion("r1", HANDOFF)[0] == "callsMissing"
    assert agg.take("r1")[0]["dropped"] == {"count": 2, "reasons": {"notReceived": 2}}


def test_runtime_done_without_end_waits_the_handoff_timeout_then_uses_telemetry() -> None:
    agg, clock = clocked_aggregator()
    agg.apply([{"k": "hello", "pid": 1}])
    invoke(agg, "r1")
    agg.apply_telemetry([{"type": "platform.runtimeDone", "time": "2026-11-23T18:20:01.000Z",
                          "record": {"requestId": "r1", "status": "error",
                                     "errorType": "Runtime.ExitError",
                                     "metrics": {"durationMs": 12.5}}}])
    assert agg.completion("r1", HANDOFF)[0] is None
    clock.now += HANDOFF
    assert agg.completion("r1", HANDOFF)[0] == "runtimeDone"
    recap = agg.take("r1")[0]
    assert recap["status"] == "failure" and recap["durationMs"] == 12.5


def test_without_internal_extension_runtime_done_completes_at_once_with_a_hint() -> None:
    agg, _ = clocked_aggregator()
    agg.telemetry_active = True
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] is None
    agg.apply_telemetry([{"type": "platform.runtimeDone", "record": {
        "requestId": "r1", "status": "success", "metrics": {"durationMs": 3.0}}}])
    assert agg.completion("r1", HANDOFF)[0] == "runtimeDone"
    first = agg.take("r1")[0]
    assert first["hint"] == HINT_NO_WRAPPER and first["calls"] == []
    invoke(agg, "r2")
    assert "hint" not in agg.take("r2")[0]  # one-time


def test_without_any_source_nothing_waits() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] == "noSource"
    assert agg.take("r1")[0]["status"] is None


def test_deadline_completes_with_timeout_and_in_flight_calls() -> None:
    agg, clock = clocked_aggregator()
    agg.apply([{"k": "hello", "pid": 1}])
    invoke(agg, "r1", deadline_in_s=3.0)
    agg.apply([call_msg("r1", "a"), start_msg("r1", "hang", offset_ms=20)])
    reason, wake = agg.completion("r1", HANDOFF)
    assert reason is None and wake is not None and abs(wake - (clock.now + 3.0)) < 0.01
    clock.now += 3.0
    assert agg.completion("r1", HANDOFF)[0] == "deadline"
    recap = agg.take("r1", deadline_passed=True)[0]
    assert recap["status"] == "timeout"
    assert [c.get("inFlight", False) for c in recap["calls"]] == [False, True]


def test_shutdown_partial_recap_takes_the_shutdown_reason() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([{"k": "hello", "pid": 1}])
    invoke(agg, "r1")
    agg.apply([start_msg("r1", "hang", offset_ms=1)])
    [recap] = agg.take_all(current="r1", status="timeout")
    assert recap["status"] == "timeout"
    assert recap["calls"][0]["inFlight"] is True


def test_late_calls_are_counted_in_the_next_recap() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("r1", 0)])
    agg.take("r1")
    agg.apply([call_msg("r1", "late"), start_msg("r1", "ignored")])
    agg.apply([end_msg("r2", 0)])
    recap = agg.take("r2")[0]
    assert recap["dropped"] == {"count": 1, "reasons": {"lateArrival": 1}}
    assert recap["calls"] == []


def test_calls_beyond_the_cap_are_counted_not_kept() -> None:
    agg, _ = clocked_aggregator(max_calls=2)
    agg.apply([call_msg("r1", str(n)) for n in range(5)] + [end_msg("r1", 5)])
    assert agg.completion("r1", HANDOFF)[0] == "handoff"
    recap = agg.take("r1")[0]
    assert len(recap["calls"]) == 2
    assert recap["dropped"]["reasons"] == {"maxCallsPerRecap": 3}


def test_init_recap_ships_with_the_first_invocation_only_if_it_has_calls() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init", "i1"), end_msg("init", 1), end_msg("r1", 0)])
    init, first = agg.take("r1")
    assert init["phase"] == "init" and init["requestId"] == "init"
    assert [c["id"] for c in init["calls"]] == ["i1"]
    assert first["requestId"] == "r1"
    agg.apply([end_msg("r2", 0)])
    assert [r["requestId"] for r in agg.take("r2")] == ["r2"]


def test_trace_and_start_time_from_platform_start_when_no_end() -> None:
    agg, _ = clocked_aggregator()
    agg.telemetry_active = True
    agg.apply_telemetry([{"type": "platform.start", "time": "2026-11-23T18:20:01.123Z",
                          "record": {"requestId": "r1", "tracing": {"value": "Root=1-x"}}}])
    agg.on_invoke({"requestId": "r1"})
    recap = agg.take("r1")[0]
    assert recap["traceId"] == "Root=1-x" and recap["startedAt"] == "2026-11-23T18:20:01.123000Z"


def test_shipper_losses_are_carried_into_the_next_invocation_recap() -> None:
    agg, _ = clocked_aggregator()
    agg.carry({"sinkRetryQueueFull": 4})
    agg.apply([end_msg("r1", 0)])
    assert agg.take("r1")[0]["dropped"]["reasons"] == {"sinkRetryQueueFull": 4}


def test_telemetry_for_a_shipped_invocation_is_ignored() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("r1", 0)])
    agg.take("r1")
    agg.apply_telemetry([{"type": "platform.report", "record": {"requestId": "r1",
                                                                 "status": "success"}}])
    assert agg.take_all() == []


def test_wait_complete_wakes_when_the_end_arrives() -> None:
    agg = Aggregator(100)
    agg.apply([{"k": "hello", "pid": 1}])
    agg.on_invoke({"requestId": "r1", "deadlineMs": 2**45})
    timer = threading.Timer(0.05, agg.apply, args=([end_msg("r1", 0)],))
    timer.start()
    assert agg.wait_complete("r1", HANDOFF) == "handoff"
    timer.join()


def test_an_expected_internal_extension_is_waited_for_before_its_first_batch() -> None:
    agg, _ = clocked_aggregator()
    agg.expect_internal()
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] is None  # not `noSource`: its batch is coming
    agg.apply([{"k": "hello", "pid": 1}, end_msg("r1", 0)])
    assert agg.completion("r1", HANDOFF)[0] == "handoff"
    assert "hint" not in agg.take("r1")[0]


def test_an_expected_but_silent_internal_extension_is_waited_for_only_once() -> None:
    agg, clock = clocked_aggregator()
    agg.expect_internal()
    invoke(agg, "r1", deadline_in_s=1.0)
    clock.now += 1.0
    assert agg.completion("r1", HANDOFF)[0] == "deadline"
    assert "has not reported" in agg.take("r1", deadline_passed=True)[0]["hint"]
    invoke(agg, "r2")
    assert agg.completion("r2", HANDOFF)[0] == "noSource"


def test_a_silent_internal_extension_under_relaxed_telemetry_costs_one_wait_only() -> None:
    # Wrapper set, relaxed telemetry: the first invocation waits for runtimeDone and the
    # hand-off timeout; once the internal extension is known silent, the next ones ship at
    # once (they have no calls to wait for) instead of waiting up to a second for telemetry.
    agg, clock = clocked_aggregator()
    agg.expect_internal()
    agg.telemetry_active, agg.telemetry_prompt = True, False
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] is None
    agg.apply_telemetry([{"type": "platform.runtimeDone", "record": {
        "requestId": "r1", "status": "success", "metrics": {"durationMs": 3.0}}}])
    assert agg.completion("r1", HANDOFF)[0] is None
    clock.now += HANDOFF
    assert agg.completion("r1", HANDOFF)[0] == "runtimeDone"
    assert "has not reported" in agg.take("r1")[0]["hint"]
    invoke(agg, "r2")
    assert agg.completion("r2", HANDOFF)[0] == "silent"
    assert agg.take("r2")[0]["calls"] == []


def test_a_silent_internal_extension_under_prompt_telemetry_waits_for_runtime_done() -> None:
    agg, clock = clocked_aggregator()
    agg.expect_internal()
    agg.telemetry_active = True
    invoke(agg, "r1", deadline_in_s=1.0)
    clock.now += 1.0
    assert agg.completion("r1", HANDOFF)[0] == "deadline"
    agg.take("r1", deadline_passed=True)
    invoke(agg, "r2")
    assert agg.completion("r2", HANDOFF)[0] is None  # runtimeDone comes within 25 ms
    agg.apply_telemetry([{"type": "platform.runtimeDone", "record": {
        "requestId": "r2", "status": "error", "metrics": {"durationMs": 3.0}}}])
    assert agg.completion("r2", HANDOFF)[0] == "runtimeDone"
    assert agg.take("r2")[0]["status"] == "error"


def test_an_active_internal_extension_is_never_taken_for_silent() -> None:
    agg, _ = clocked_aggregator()
    agg.expect_internal()
    agg.telemetry_active, agg.telemetry_prompt = True, False
    agg.apply([{"k": "hello", "pid": 1}])
    invoke(agg, "r1")
    assert agg.completion("r1", HANDOFF)[0] is None
    agg.apply([end_msg("r1", 0)])
    assert agg.completion("r1", HANDOFF)[0] == "handoff"


# Lambda Managed Instances: every worker process runs its own init, as `init:<pid>`.

STALE = 900.0


def test_each_workers_init_is_a_recap_of_its_own_complete_at_its_end() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init:101", "a"), call_msg("init:102", "b"), end_msg("init:101", 1)])
    assert agg.wait_completed(HANDOFF, STALE, 0) == [("init:101", "handoff")]
    [recap] = agg.take("init:101")
    assert (recap["phase"], recap["requestId"], recap["status"]) == ("init", "init:101", "success")
    assert [c["id"] for c in recap["calls"]] == ["a"]
    agg.apply([end_msg("init:102", 1)])
    assert agg.wait_completed(HANDOFF, STALE, 0) == [("init:102", "handoff")]
    assert [c["id"] for c in agg.take("init:102")[0]["calls"]] == ["b"]


def test_a_worker_whose_init_ends_after_others_served_loses_nothing() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init:101", "a"), end_msg("init:101", 1),
               call_msg("r1", "x"), end_msg("r1", 1)])
    shipped = [r for rid, _ in agg.wait_completed(HANDOFF, STALE, 0) for r in agg.take(rid)]
    assert sorted(r["requestId"] for r in shipped) == ["init:101", "r1"]
    agg.apply([call_msg("init:102", "late"), end_msg("init:102", 1),
               call_msg("r2", "y"), end_msg("r2", 1)])
    shipped = [r for rid, _ in agg.wait_completed(HANDOFF, STALE, 0) for r in agg.take(rid)]
    by_id = {r["requestId"]: r for r in shipped}
    assert [c["id"] for c in by_id["init:102"]["calls"]] == ["late"]
    assert by_id["init:102"]["phase"] == "init"
    assert all(r["dropped"]["count"] == 0 for r in shipped)


def test_a_workers_init_without_calls_ships_nothing() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([end_msg("init:101", 0)])
    assert agg.wait_completed(HANDOFF, STALE, 0) == [("init:101", "handoff")]
    assert agg.take("init:101") == []
    assert agg.wait_completed(HANDOFF, STALE, 0) == []


def test_a_workers_init_gets_no_losses_or_hint_meant_for_invocations() -> None:
    agg, _ = clocked_aggregator()
    agg.carry({"sinkRetryQueueFull": 2})
    agg.apply([call_msg("init:101", "a"), end_msg("init:101", 1), end_msg("r1", 0)])
    [init] = agg.take("init:101")
    assert init["dropped"]["count"] == 0 and "hint" not in init
    assert agg.take("r1")[0]["dropped"]["reasons"] == {"sinkRetryQueueFull": 2}


def test_a_workers_init_that_never_ends_ships_at_shutdown() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init:101", "a")])
    assert agg.wait_completed(HANDOFF, STALE, 0) == []
    [recap] = agg.take_all()
    assert (recap["requestId"], [c["id"] for c in recap["calls"]]) == ("init:101", ["a"])
    assert recap["status"] == "failure"  # it never completed


def test_an_init_without_its_end_at_shutdown_takes_the_shutdown_reason() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init", "a"), call_msg("init:7", "b"), end_msg("init:8", 0)])
    recaps = agg.take_all(status="timeout")
    assert {recap["requestId"]: recap["status"] for recap in recaps} == {
        "init": "timeout", "init:7": "timeout"}


def test_made_up_init_ids_push_out_only_init_phases() -> None:
    agg, _ = clocked_aggregator()
    agg.max_open = 4
    for request_id in ("r1", "r2"):
        invoke(agg, request_id)
        agg.apply([call_msg(request_id, f"{request_id}-a")])
    agg.apply([call_msg(f"init:{pid}", str(pid)) for pid in range(100, 110)])
    agg.apply([end_msg("r1", 1), end_msg("r2", 1)])
    first, second = agg.take("r1") + agg.take("r2")
    assert [c["id"] for c in first["calls"]] == ["r1-a"]
    assert [c["id"] for c in second["calls"]] == ["r2-a"]
    # Their calls may be a real worker's: counted, like any evicted invocation's.
    assert first["dropped"]["reasons"] == {"evicted": 8}
