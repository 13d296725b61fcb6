"""Aggregation of calls from the function's child processes, and of a failed init.

Unit tests: the Aggregator is fed messages directly, with a fake clock; no sockets.
"""

from __future__ import annotations

from ext_support import T0, call_msg, end_msg

from httprecap.external.aggregate.store import Aggregator

HANDOFF = 0.2
PARENT, CHILD = 100, 200


def _aggregator() -> Aggregator:
    return Aggregator(100, clock=lambda: 50.0, wall_us=lambda: T0 + 500_000)


def _hello(pid: int, helper: bool = False) -> dict[str, object]:
    hello: dict[str, object] = {"k": "hello", "pid": pid, "python": "3.12.1",
                                "version": "0.1.0"}
    if helper:
        hello["helper"] = True
    return hello


def _invoke(agg: Aggregator, request_id: str) -> None:
    agg.on_invoke({"eventType": "INVOKE", "requestId": request_id,
                   "deadlineMs": (T0 + 500_000) // 1000 + 3000})


def test_a_childs_calls_join_the_invocation_its_parent_ends() -> None:
    agg = _aggregator()
    _invoke(agg, "r1")
    agg.apply([_hello(PARENT), end_msg("init", 0)], pid=PARENT)
    agg.apply([_hello(CHILD, helper=True), call_msg("r1", "c1")], pid=CHILD)
    agg.apply([call_msg("r1", "p1"), end_msg("r1", calls=1)], pid=PARENT)
    assert agg.completion("r1", HANDOFF) == ("handoff", None)
    (recap,) = agg.take("r1")
    assert sorted(call["id"] for call in recap["calls"]) == ["c1", "p1"]
    assert recap["dropped"]["count"] == 0


def test_a_helper_childs_exit_ends_none_of_its_parents_invocations() -> None:
    agg = _aggregator()
    _invoke(agg, "r1")
    agg.apply([_hello(PARENT), end_msg("init", 0), call_msg("r1", "p1")], pid=PARENT)
    agg.apply([_hello(CHILD, helper=True), call_msg("r1", "c1")], pid=CHILD)
    agg.process_gone(CHILD)
    assert agg.completion("r1", HANDOFF)[0] is None  # still waiting for the parent's end
    agg.process_gone(PARENT)
    assert agg.completion("r1", HANDOFF)[0] is not None


def test_a_childs_call_after_the_recap_shipped_is_counted_as_a_late_arrival() -> None:
    agg = _aggregator()
    _invoke(agg, "r1")
    agg.apply([call_msg("r1", "p1"), end_msg("r1", calls=1)], pid=PARENT)
    agg.take("r1")
    agg.apply([_hello(CHILD, helper=True), call_msg("r1", "c1")], pid=CHILD)
    _invoke(agg, "r2")
    agg.apply([end_msg("r2", calls=0)], pid=PARENT)
    (recap,) = agg.take("r2")
    assert recap["dropped"]["reasons"] == {"lateArrival": 1}


def test_a_failed_init_is_reported_once_and_its_recap_taken_with_status_error() -> None:
    agg = _aggregator()
    reports: list[str] = []
    agg.on_init_failed = lambda: reports.append("failed")
    agg.apply([call_msg("init", "a"), call_msg("init", "b")], pid=PARENT)
    assert reports == []
    agg.apply([end_msg("init", calls=2, status="error")], pid=PARENT)
    agg.apply([call_msg("init", "child")], pid=CHILD)  # before it ships: it joins
    assert reports == ["failed"]
    assert agg.wait_complete("init", HANDOFF) == "handoff"
    (recap,) = agg.take_init()
    assert (recap["phase"], recap["status"]) == ("init", "error")
    assert [call["id"] for call in recap["calls"]] == ["a", "b", "child"]
    assert agg.take_init() == [] and agg.take_all() == []  # shipped once


def test_a_successful_init_is_not_reported() -> None:
    agg = _aggregator()
    reports: list[str] = []
    agg.on_init_failed = lambda: reports.append("failed")
    agg.apply([call_msg("init", "a"), end_msg("init", calls=1)], pid=PARENT)
    assert reports == []
