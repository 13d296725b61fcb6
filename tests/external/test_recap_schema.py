"""The recap's fields and summary maths (docs/RECAP.md), from invocation state: no sockets."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from ext_support import T0, call
from hypothesis import given
from hypothesis import strategies as st

from httprecap.external.aggregate.encode import compact_json
from httprecap.external.aggregate.encoded_call import EncodedCall, ms
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import (
    Context,
    Outcome,
    build_recap,
    http_share,
    iso_us,
    parse_iso_us,
    render_call,
)
from httprecap.external.aggregate.recap_summary import covered_share

CONTEXT = Context("orders-api", "$LATEST", {}, 0.4)


def _recap(*calls: dict, duration_ms: float = 100.0, **context: object) -> dict:
    inv = Invocation("r1", "invoke", 0.0)
    for item in calls:
        inv.add_call(EncodedCall(item), cap=100)
    inv.set_end({"k": "end", "requestId": "r1", "status": "success", "calls": len(calls),
                 "startedAtUs": T0, "durationMs": duration_ms, "dropped": {"bufferFull": 2},
                 "overheadUs": 38}, 0.0)
    ctx = Context(**{"function_name": CONTEXT.function_name,  # type: ignore[arg-type]
                     "function_version": CONTEXT.function_version,
                     "carried": CONTEXT.carried, "extension_ms": CONTEXT.extension_ms,
                     **context})
    return build_recap(inv, Outcome("success", T0, duration_ms), ctx)


def test_invocation_fields_follow_the_schema() -> None:
    recap = _recap(call("r1", "a"))
    assert list(recap) == ["type", "version", "level", "timestamp", "phase", "requestId",
                           "functionName", "functionVersion", "status", "startedAt",
                           "durationMs", "traceId", "summary", "dropped", "overhead", "calls"]
    assert recap["type"] == "httprecap.recap" and recap["version"] == 1
    assert recap["phase"] == "invoke" and recap["requestId"] == "r1"
    assert recap["functionName"] == "orders-api" and recap["functionVersion"] == "$LATEST"
    assert recap["startedAt"] == iso_us(T0)
    assert recap["overhead"] == {"functionUs": 38, "extensionMs": 0.4}


def test_iso_timestamps_have_microseconds_and_z() -> None:
    assert iso_us(1_795_455_407_806_123) == "2026-11-23T17:36:47.806123Z"
    assert parse_iso_us("2026-11-23T17:36:47.806Z") == 1_795_455_407_806_000


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))  # to 9999-12-31
def test_iso_timestamps_agree_with_datetime(epoch_us: int) -> None:
    moment = datetime.fromtimestamp(epoch_us // 1_000_000, tz=timezone.utc)
    assert iso_us(epoch_us) == \
        f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_us % 1_000_000:06d}Z"


@given(st.one_of(st.floats(min_value=-1e9, max_value=1e9),
                 st.integers(min_value=-10**12, max_value=10**12).map(lambda n: n / 1000)))
def test_milliseconds_are_rounded_to_whole_microseconds(value: float) -> None:
    assert repr(ms(value)) == repr(round(value, 3))  # the sign of zero included


def test_calls_are_sorted_by_start_with_offsets() -> None:
    recap = _recap(call("r1", "late", offset_ms=50), call("r1", "early", offset_ms=12.3))
    assert [c["id"] for c in recap["calls"]] == ["early", "late"]
    assert recap["calls"][0]["offsetMs"] == 12.3
    assert recap["calls"][0]["startedAt"] == iso_us(T0 + 12_300)
    assert "startedAtUs" not in recap["calls"][0] and "requestId" not in recap["calls"][0]


def test_call_fields_and_optional_ones() -> None:
    aws = {"service": "s3", "operation": "GetObject", "region": "us-east-1"}
    plain = render_call(call("r1", "a"), T0)
    assert list(plain) == ["id", "method", "url", "scheme", "host", "port", "path", "status",
                           "startedAt", "offsetMs", "durationMs", "error", "bytesSent",
                           "bytesReceived", "library", "thread", "attempts"]
    rich = render_call(call("r1", "b", aws=aws, requestHeaders={"a": "b"},
                            proxy="proxy.internal:3128"), T0)
    assert rich["aws"] == aws and rich["requestHeaders"] == {"a": "b"}
    assert rich["proxy"] == "proxy.internal:3128"


def test_attempts_get_iso_start_times() -> None:
    attempts = [{"startedAtUs": T0 + 5, "durationMs": 1.0, "status": 503, "error": None,
                 "url": "u"}, {"startedAtUs": T0 + 9, "durationMs": 2.0, "status": 200,
                               "error": None, "url": "u"}]
    rendered = render_call(call("r1", "a", attempts=attempts), T0)
    assert rendered["attempts"][0] == {"startedAt": iso_us(T0 + 5), "durationMs": 1.0,
                                       "status": 503, "error": None, "url": "u"}


def test_in_flight_call_lasts_until_the_invocation_ended() -> None:
    rendered = render_call(call("r1", "a", offset_ms=10), T0, in_flight_until_us=T0 + 3_000_000)
    assert rendered["inFlight"] is True
    assert rendered["durationMs"] == 2990.0


def test_summary_counts_errors_bytes_and_slowest() -> None:
    recap = _recap(
        call("r1", "a", duration_ms=45.2, bytesReceived=1532),
        call("r1", "b", offset_ms=50, duration_ms=21.0, status=404, bytesReceived=243,
             host="s3.amazonaws.com", path="/k"),
        call("r1", "c", offset_ms=80, duration_ms=5.0, status=None, bytesReceived=None,
             error={"type": "ConnectionRefusedError", "message": "x"}),
    )
    summary = recap["summary"]
    assert summary["count"] == 3 and summary["errors"] == 2
    assert summary["totalHttpMs"] == 71.2
    assert summary["bytesSent"] == 0 and summary["bytesReceived"] == 1775
    assert summary["slowest"] == {"id": "a", "method": "GET", "host": "api.example.com",
                                  "path": "/v1/items", "durationMs": 45.2}
    assert summary["hosts"] == [
        {"host": "api.example.com", "count": 2, "errors": 1, "totalMs": 50.2, "maxMs": 45.2},
        {"host": "s3.amazonaws.com", "count": 1, "errors": 1, "totalMs": 21.0, "maxMs": 21.0},
    ]


def test_http_share_counts_overlapping_time_once() -> None:
    calls = [{"offsetMs": 0.0, "durationMs": 30.0}, {"offsetMs": 10.0, "durationMs": 30.0},
             {"offsetMs": 60.0, "durationMs": 10.0}]
    assert http_share(calls, 100.0) == 0.5


def test_http_share_clips_calls_to_the_invocation() -> None:
    assert http_share([{"offsetMs": 90.0, "durationMs": 50.0}], 100.0) == 0.1
    assert http_share([{"offsetMs": 0.0, "durationMs": 5.0}], 0.0) == 0.0


@given(st.lists(st.tuples(st.integers(-50_000, 150_000), st.integers(0, 80_000)), max_size=30),
       st.randoms())
def test_http_share_of_calls_in_start_order_is_that_of_calls_in_any_order(
        calls: list[tuple[int, int]], shuffler: random.Random) -> None:
    ordered = sorted((begin / 1000, duration / 1000) for begin, duration in calls)
    shuffled = list(ordered)
    shuffler.shuffle(shuffled)
    in_order = covered_share([o for o, _ in ordered], [d for _, d in ordered], 100.0, True)
    assert in_order == pytest.approx(
        covered_share([o for o, _ in shuffled], [d for _, d in shuffled], 100.0), abs=0.0011)
    # What a millisecond grid says (the calls' ends rounded outwards, so a bound).
    grid = {ms for begin, duration in calls
            for ms in range(max(begin // 1000, 0), min(-(-(begin + duration) // 1000), 100))}
    assert in_order <= len(grid) / 100 + 0.001


def test_empty_recap_has_a_null_slowest_and_zero_share() -> None:
    summary = _recap()["summary"]
    assert summary == {"count": 0, "errors": 0, "totalHttpMs": 0, "httpShare": 0.0,
                       "bytesSent": 0, "bytesReceived": 0, "slowest": None, "hosts": []}


def test_dropped_merges_function_side_and_carried_losses() -> None:
    recap = _recap(carried=Counter({"lateArrival": 1, "sinkRetryQueueFull": 0}))
    assert recap["dropped"] == {"count": 3, "reasons": {"bufferFull": 2, "lateArrival": 1}}


def test_hint_only_when_given() -> None:
    assert "hint" not in _recap()
    assert _recap(hint="set the wrapper")["hint"] == "set the wrapper"


# ------------------------------------------------- the assembled line is the recap's JSON


def _mixed_invocation(count: int) -> tuple[Invocation, list[dict], list[dict]]:
    """Calls arriving out of order, ties in start and duration, errors, non-ASCII text, a
    call still running: everything the encoded-once path has to get right."""
    rng = random.Random(7)
    finished, running = [], []
    for n in range(count):
        extra = {"thread": "Wörker-ü"} if n % 11 == 0 else {}
        extra.update(rng.choice([{}, {"timeoutS": None}, {"timeoutS": 5.0, "connection": "reused"},
                                 {"connection": "new", "connectMs": 1.5, "tlsMs": 2.25}]))
        finished.append(call("r1", f"c{n:03d}", offset_ms=rng.choice([0.0, 5.5, 12.25, -1.0]),
                             duration_ms=rng.choice([1.0, 2.5, 7.125, 7.125]),
                             status=rng.choice([200, 404, 500, None]),
                             host=rng.choice(["a.example.com", "b.example.com", "ö.example"]),
                             bytesSent=rng.choice([None, 0, 12]), **extra))
    rng.shuffle(finished)
    running.append({"id": "h1", "requestId": "r1", "startedAtUs": T0 + 60_000,
                    "method": "GET", "host": "slow.example.com", "url": "http://slow/"})
    inv = Invocation("r1", "invoke", 0.0)
    for item in finished:
        inv.add_call(EncodedCall(item), cap=1000)
    for item in running:
        inv.add_start(item, cap=1000)
    return inv, finished, running


def test_the_line_assembled_from_encoded_calls_is_the_recap_encoded_whole() -> None:
    inv, _, _ = _mixed_invocation(60)
    recap = build_recap(inv, Outcome("timeout", T0, 100.0), CONTEXT)
    whole = recap.as_dict()
    assert recap.line() == compact_json(whole)
    assert recap.size == len(recap.line().encode())
    assert json.loads(recap.line()) == whole


def test_calls_written_once_per_endpoint_are_each_call_s_own() -> None:
    # The encoder keeps what it wrote for an endpoint (and for a library, thread, timeout and
    # connection) to write it once: with more endpoints than it keeps, and each endpoint seen
    # again after it was forgotten, every call still reads as its own.
    items = [call("r1", f"c{n:04d}", offset_ms=n * 0.01, host=f"h{n % 300}.example.com",
                  status=200 + n % 3, **({"timeoutS": float(n % 4)} if n % 2 else {}))
             for n in range(900)]
    inv = Invocation("r1", "invoke", 0.0)
    for item in items:
        inv.add_call(EncodedCall(item), cap=1000)
    recap = build_recap(inv, Outcome("success", T0, 100.0), CONTEXT)
    assert json.loads(recap.line())["calls"] == [render_call(item, T0) for item in items]


def test_calls_and_summary_follow_their_definitions() -> None:
    inv, finished, running = _mixed_invocation(60)
    recap = build_recap(inv, Outcome("timeout", T0, 100.0), CONTEXT)
    ended = T0 + 100_000
    ordered = sorted([(c, None) for c in finished] + [(c, ended) for c in running],
                     key=lambda pair: (pair[0]["startedAtUs"], pair[0]["id"]))
    calls = [render_call(item, T0, until) for item, until in ordered]
    assert recap["calls"] == calls
    failed = [c for c in calls if c["error"] is not None or (c["status"] or 0) >= 400]
    slowest = max(calls, key=lambda c: c["durationMs"])  # the first of the longest
    hosts = {}
    for c in calls:
        entry = hosts.setdefault(c["host"], {"host": c["host"], "count": 0, "errors": 0,
                                             "totalMs": 0.0, "maxMs": 0.0})
        entry["count"] += 1
        entry["errors"] += c in failed
        entry["totalMs"] += c["durationMs"]
        entry["maxMs"] = max(entry["maxMs"], c["durationMs"])
    for entry in hosts.values():
        entry["totalMs"] = round(entry["totalMs"], 3)
    assert recap["summary"] == {
        "count": 61, "errors": len(failed),
        "totalHttpMs": round(sum(c["durationMs"] for c in calls), 3),
        "httpShare": http_share(calls, 100.0),
        "bytesSent": sum(c["bytesSent"] or 0 for c in calls),
        "bytesReceived": sum(c["bytesReceived"] or 0 for c in calls),
        "slowest": {name: slowest[name] for name in ("id", "method", "host", "path",
                                                     "durationMs")},
        "hosts": sorted(hosts.values(), key=lambda e: (-e["totalMs"], e["host"])),
    }


@pytest.mark.parametrize("extra", [
    {},
    {"status": None, "error": {"type": "ConnectTimeout", "message": "timed out \u00e9\u2603"}},
    {"thread": "w\u00f6rker \"1\"\n", "path": "/caf\u00e9", "bytesSent": None,
     "durationMs": 12},
    {"aws": {"service": "s3", "operation": "GetObject", "region": "eu-west-1"}},
    {"attempts": [{"startedAtUs": T0 + 5, "durationMs": 1.0, "status": 503, "error": None,
                   "url": "u"}]},
    {"requestHeaders": {"accept": "*/*"}, "responseBody": "x"},
    {"proxy": "proxy.internal:3128"},
    {"scheme": None, "port": None, "library": "urllib3", "durationMs": 0.001},
])
def test_an_encoded_call_is_the_recap_call_encoded_whole(extra: dict[str, Any]) -> None:
    # EncodedCall writes the common fields itself (per call, on the collector's thread): its
    # text must be exactly what the encoder writes for the rendered call.
    item = {**call("r1", "a", status=200, durationMs=2.5, bytesSent=10, bytesReceived=20,
                   library="requests", thread="MainThread", attempts=[], aws=None,
                   error=None, scheme="https", port=443, path="/a"), **extra}
    encoded = EncodedCall(item)
    started_us = encoded.begin_us - 1500
    assert f"{encoded.head}1.5{encoded.tail}" == compact_json(render_call(item, started_us))
    running = EncodedCall(item, in_flight_until_us=encoded.begin_us + 7000)
    assert f"{running.head}1.5{running.tail}" == \
        compact_json(render_call(item, started_us, encoded.begin_us + 7000))
