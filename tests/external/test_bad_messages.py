"""One bad message never costs an invocation its recap: calls, ends and strings that break the
wire contract are kept out and counted, everything else of the batch is applied.

Unit tests: batches are sorted by wire.sort_batch and fed to an Aggregator with a fake clock,
as the collector does; no sockets (test_collector_loopback.py has the socket side).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ext_support import call_msg, clocked_aggregator, end_msg, invoke, start_msg

from httprecap import wire
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import _decode

HANDOFF = 0.2


def _post(agg: Aggregator, *messages: Any) -> wire.Sorted:
    """What the collector does with a batch body."""
    body = json.dumps({"v": 1, "pid": 1, "messages": list(messages)}).encode()
    sorted_batch = wire.sort_batch(_decode(body))
    agg.apply_batch(sorted_batch)
    return sorted_batch


@pytest.mark.parametrize(("field", "value"), [
    ("durationMs", "12"), ("durationMs", None), ("durationMs", -1), ("durationMs", True),
    ("dropped", [1]), ("dropped", {"bufferFull": "3"}), ("dropped", {"x": True}),
    ("startedAtUs", 1.5), ("startedAtUs", True), ("startedAtUs", None), ("startedAtUs", 2**60),
    ("overheadUs", "40"), ("overheadUs", -1),
    ("tenantId", ""), ("tenantId", 7), ("tenantId", "t" * 257),
])
def test_an_end_with_a_bad_field_still_completes_its_recap(field: str, value: Any) -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    _post(agg, call_msg("r1", "a"), end_msg("r1", 1, status="error", **{field: value}))
    assert agg.completion("r1", HANDOFF)[0] == "handoff"
    (recap,) = agg.take("r1")
    assert recap["status"] == "error" and recap["summary"]["count"] == 1
    assert recap["dropped"]["reasons"] == {"invalidEnd": 1}
    assert isinstance(recap["durationMs"], float) and recap["startedAt"].startswith("20")


@pytest.mark.parametrize("fields", [{"status": "fine"}, {"calls": "1"}, {"calls": -1},
                                    {"calls": True}, {"status": None}])
def test_an_unusable_end_is_counted_and_the_recap_ships_by_the_deadline(
        fields: dict[str, Any]) -> None:
    agg, clock = clocked_aggregator()
    invoke(agg, "r1", deadline_in_s=3.0)
    _post(agg, call_msg("r1", "a"), {**end_msg("r1", 1), **fields})
    assert agg.completion("r1", HANDOFF)[0] is None
    clock.now += 3.0
    assert agg.completion("r1", HANDOFF)[0] == "deadline"
    (recap,) = agg.take("r1", deadline_passed=True)
    assert recap["status"] == "timeout" and [c["id"] for c in recap["calls"]] == ["a"]
    assert recap["dropped"]["reasons"] == {"invalidEnd": 1}


def test_an_unusable_end_ships_with_runtime_done_when_telemetry_speaks() -> None:
    agg, clock = clocked_aggregator()
    agg.telemetry_active = True
    invoke(agg, "r1")
    _post(agg, {**end_msg("r1", 0), "status": 3})
    agg.apply_telemetry([{"type": "platform.runtimeDone",
                          "record": {"requestId": "r1", "status": "success"}}])
    clock.now += HANDOFF
    assert agg.completion("r1", HANDOFF)[0] == "runtimeDone"
    assert agg.take("r1")[0]["status"] == "success"


def test_a_call_that_breaks_the_contract_is_counted_and_nothing_waits_for_it() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    bad = call_msg("r1", "b", status="200")
    sorted_batch = _post(agg, call_msg("r1", "a"), bad, end_msg("r1", 2))
    assert [m["k"] for m in sorted_batch.messages] == ["call", "end"]
    assert agg.completion("r1", HANDOFF)[0] == "handoff"
    (recap,) = agg.take("r1")
    assert [c["id"] for c in recap["calls"]] == ["a"]
    assert recap["dropped"] == {"count": 1, "reasons": {"invalidCall": 1}}


def test_a_not_a_number_is_null_and_fails_only_its_own_message() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    body = json.dumps({"v": 1, "messages": [call_msg("r1", "a", duration_ms=float("nan")),
                                            call_msg("r1", "b"), end_msg("r1", 2)]}).encode()
    assert b"NaN" in body
    agg.apply_batch(wire.sort_batch(_decode(body)))
    (recap,) = agg.take("r1")
    assert [c["id"] for c in recap["calls"]] == ["b"]
    assert recap["dropped"]["reasons"] == {"invalidCall": 1}
    json.loads(recap.line(), parse_constant=pytest.fail)


@pytest.mark.parametrize("fields", [{"startedAtUs": 10**30}, {"durationMs": 1e308},
                                    {"durationMs": 10**400}])
def test_a_call_with_a_clock_beyond_any_calendar_is_counted_not_fatal(
        fields: dict[str, Any]) -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    _post(agg, call_msg("r1", "a", **fields), call_msg("r1", "b"), end_msg("r1", 2))
    (recap,) = agg.take("r1")
    assert [c["id"] for c in recap["calls"]] == ["b"]
    assert recap["dropped"]["reasons"] == {"invalidCall": 1}


def test_lone_surrogates_arriving_escaped_become_replacement_characters() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    _post(agg, call_msg("r1", "a", url="http://h/\udcff", thread="w\udcff",
                        error={"type": "E", "message": "bad \udcfe"}), end_msg("r1", 1))
    (recap,) = agg.take("r1")
    (call,) = recap["calls"]
    assert (call["url"], call["thread"]) == ("http://h/\ufffd", "w\ufffd")
    assert call["error"]["message"] == "bad \ufffd"
    recap.line().encode("utf-8")  # what every sink does


def test_a_valid_pair_of_surrogate_escapes_is_the_character_it_spells() -> None:
    body = b'{"v":1,"messages":[{"k":"hello","pid":1,"x":"\\ud83d\\ude00"}]}'
    assert wire.sort_batch(_decode(body)).messages[0]["x"] == "\U0001f600"


def test_an_unusable_start_notice_counts_only_if_its_call_never_ends() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    invoke(agg, "r2")
    bad_start = start_msg("r1", "hang")
    bad_start["call"]["port"] = "80"
    ended = start_msg("r2", "quick")
    ended["call"]["port"] = "80"
    _post(agg, bad_start, ended, call_msg("r2", "quick"), end_msg("r2", 1))
    (r2,) = agg.take("r2")
    assert r2["dropped"]["count"] == 0 and r2["summary"]["count"] == 1
    (r1,) = agg.take("r1", status="timeout")
    assert r1["dropped"]["reasons"] == {"invalidCall": 1}


def test_a_message_for_a_shipped_invocation_goes_to_the_next_recap() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    _post(agg, end_msg("r1", 0))
    agg.take("r1")
    _post(agg, call_msg("r1", "late", port="x"))
    invoke(agg, "r2")
    _post(agg, end_msg("r2", 0))
    assert agg.take("r2")[0]["dropped"]["reasons"] == {"invalidCall": 1}


def test_sort_batch_still_refuses_an_unreadable_batch() -> None:
    for batch in ({"v": 2, "messages": []}, {"v": 1, "messages": {}}, [],
                  {"v": 1, "messages": [{}] * (wire.MAX_MESSAGES + 1)}):
        with pytest.raises(wire.WireError):
            wire.sort_batch(batch)
