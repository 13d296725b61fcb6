"""Aggregate: turns one invocation's state into the recap JSON of docs/RECAP.md (extension process).

Pure functions of their inputs (no clock, no locks), so the schema and the summary maths are
tested without sockets. Field order follows docs/RECAP.md; readers should not rely on it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from httprecap.external.aggregate.invocation import Invocation

TYPE = "httprecap.recap"
VERSION = 1
STATUSES = ("success", "error", "timeout", "failure")
HINT_NO_WRAPPER = (
    "httprecap's internal extension is not active, so no HTTP calls can be captured: set "
    "AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper in the function's environment."
)
HINT_SILENT = (
    "AWS_LAMBDA_EXEC_WRAPPER names httprecap's wrapper, but its internal extension has not "
    "reported anything yet: look for [httprecap] lines in the function's log."
)
_CALL_ORDER = ("id", "method", "url", "scheme", "host", "port", "path", "status")
_CALL_OPTIONAL = ("requestHeaders", "responseHeaders", "requestBody", "responseBody")


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended, from the best source that spoke."""

    status: str | None  # None only when nothing could tell (no hand-off, no telemetry)
    started_us: int
    duration_ms: float


@dataclass(frozen=True)
class Context:
    """What the recap needs besides the invocation itself."""

    function_name: str
    function_version: str
    carried: Mapping[str, int]  # losses attributed to this recap from elsewhere
    extension_ms: float
    hint: str | None = None


def iso_us(epoch_us: int) -> str:
    """ISO-8601 UTC with microseconds, e.g. 2026-11-23T18:20:01.123456Z."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    return f"{_iso_seconds(seconds)}.{micros:06d}Z"


@lru_cache(maxsize=256)
def _iso_seconds(seconds: int) -> str:
    # The calls of one invocation share a handful of seconds: format each second once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def parse_iso_us(text: str) -> int | None:
    """Epoch microseconds of a Telemetry API `time` (ISO-8601 with `Z`), or None."""
    from datetime import datetime  # only the rare fallback paths need it

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return round(moment.timestamp() * 1_000_000)


def _ms(value: float) -> float:
    return round(value, 3)


def telemetry_status(record: Mapping[str, Any]) -> str | None:
    """Map a runtimeDone/report status to a recap status (a runtime exit is a crash)."""
    status = record.get("status")
    if status == "error" and str(record.get("errorType", "")).startswith("Runtime.ExitError"):
        return "failure"
    return status if status in STATUSES else None


def resolve_outcome(inv: Invocation, now_us: int, override: str | None = None,
                    deadline_passed: bool = False) -> Outcome:
    """Status, start and duration: the hand-off first, then telemetry, then what we saw."""
    started = _started_us(inv, now_us)
    status = override or _status(inv, deadline_passed)
    if inv.end is not None and override is None:
        return Outcome(status, started, float(inv.end.get("durationMs") or 0.0))
    if inv.runtime_done is not None and override is None:
        metrics = inv.runtime_done.get("metrics")
        if isinstance(metrics, dict) and isinstance(metrics.get("durationMs"), (int, float)):
            return Outcome(status, started, float(metrics["durationMs"]))
    return Outcome(status, started, max(now_us - started, 0) / 1000)


def _status(inv: Invocation, deadline_passed: bool) -> str | None:
    if inv.end is not None:
        return str(inv.end["status"])
    for record in (inv.runtime_done, {"status": inv.report_status}):
        status = telemetry_status(record) if record else None
        if status:
            return status
    if deadline_passed:
        return "timeout"
    return "success" if inv.phase == "init" else None


def _started_us(inv: Invocation, now_us: int) -> int:
    if inv.end is not None and isinstance(inv.end.get("startedAtUs"), int):
        return int(inv.end["startedAtUs"])
    for candidate in (inv.platform_start_us, inv.invoked_at_us):
        if candidate is not None:
            return candidate
    starts = [call["startedAtUs"] for call in (*inv.calls.values(), *inv.starts.values())]
    return min(starts, default=now_us)


def build_recap(inv: Invocation, outcome: Outcome, context: Context) -> dict[str, Any]:
    calls = render_calls(inv, outcome)
    recap: dict[str, Any] = {
        "type": TYPE,
        "version": VERSION,
        "phase": inv.phase,
        "requestId": inv.request_id,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        "status": outcome.status,
        "startedAt": iso_us(outcome.started_us),
        "durationMs": _ms(outcome.duration_ms),
        "traceId": inv.trace,
        "calls": calls,
        "summary": summarize(calls, outcome),
        "dropped": _dropped(inv, context.carried),
        "overhead": {"functionUs": _function_us(inv), "extensionMs": _ms(context.extension_ms)},
    }
    if context.hint:
        recap["hint"] = context.hint
    return recap


def _function_us(inv: Invocation) -> int | None:
    value = inv.end.get("overheadUs") if inv.end is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dropped(inv: Invocation, carried: Mapping[str, int]) -> dict[str, Any]:
    reasons: Counter[str] = Counter(inv.dropped)
    wire = inv.end.get("dropped") if inv.end is not None else None
    if isinstance(wire, dict):
        reasons.update({str(k): v for k, v in wire.items() if isinstance(v, int) and v > 0})
    reasons.update({k: v for k, v in carried.items() if v > 0})
    return {"count": sum(reasons.values()), "reasons": dict(sorted(reasons.items()))}


# ----------------------------------------------------------------------------------- calls


def render_calls(inv: Invocation, outcome: Outcome) -> list[dict[str, Any]]:
    """Finished calls and still-running ones (`inFlight`), in start order."""
    end_us = outcome.started_us + round(outcome.duration_ms * 1000)
    finished = [(call, False) for call in inv.calls.values()]
    running = [(call, True) for call in inv.starts.values()]
    ordered = sorted(finished + running, key=lambda pair: (pair[0]["startedAtUs"], pair[0]["id"]))
    return [render_call(call, outcome.started_us, end_us if in_flight else None)
            for call, in_flight in ordered]


def render_call(call: Mapping[str, Any], started_us: int,
                in_flight_until_us: int | None = None) -> dict[str, Any]:
    """One wire CALL as a recap call; `in_flight_until_us` marks a call that never finished."""
    begin = int(call["startedAtUs"])
    rendered: dict[str, Any] = {name: call.get(name) for name in _CALL_ORDER}
    rendered["startedAt"] = iso_us(begin)
    rendered["offsetMs"] = _ms((begin - started_us) / 1000)
    if in_flight_until_us is None:
        rendered["durationMs"] = _ms(float(call.get("durationMs") or 0.0))
    else:
        rendered["durationMs"] = _ms(max(in_flight_until_us - begin, 0) / 1000)
    for name in ("error", "bytesSent", "bytesReceived", "library", "thread"):
        rendered[name] = call.get(name)
    rendered["attempts"] = [_attempt(item) for item in call.get("attempts") or []
                            if isinstance(item, dict)]
    if call.get("aws"):
        rendered["aws"] = call["aws"]
    if in_flight_until_us is not None:
        rendered["inFlight"] = True
    for name in _CALL_OPTIONAL:
        if call.get(name) is not None:
            rendered[name] = call[name]
    return rendered


def _attempt(attempt: Mapping[str, Any]) -> dict[str, Any]:
    started = attempt.get("startedAt")
    if isinstance(attempt.get("startedAtUs"), int):
        started = iso_us(attempt["startedAtUs"])
    return {"startedAt": started, "durationMs": attempt.get("durationMs"),
            "status": attempt.get("status"), "error": attempt.get("error"),
            "url": attempt.get("url")}


# --------------------------------------------------------------------------------- summary


def is_error(call: Mapping[str, Any]) -> bool:
    status = call.get("status")
    return call.get("error") is not None or (isinstance(status, int) and status >= 400)


def summarize(calls: list[dict[str, Any]], outcome: Outcome) -> dict[str, Any]:
    slowest = max(calls, key=lambda call: call["durationMs"], default=None)
    return {
        "count": len(calls),
        "errors": sum(1 for call in calls if is_error(call)),
        "totalHttpMs": _ms(sum(call["durationMs"] for call in calls)),
        "httpShare": http_share(calls, outcome.duration_ms),
        "bytesSent": sum(call["bytesSent"] or 0 for call in calls),
        "bytesReceived": sum(call["bytesReceived"] or 0 for call in calls),
        "slowest": None if slowest is None else {
            name: slowest[name] for name in ("id", "method", "host", "path", "durationMs")},
        "hosts": _hosts(calls),
    }


def http_share(calls: list[dict[str, Any]], duration_ms: float) -> float:
    """Share of [0, duration] covered by at least one call (overlaps counted once)."""
    if duration_ms <= 0:
        return 0.0
    intervals = sorted((max(c["offsetMs"], 0.0), min(c["offsetMs"] + c["durationMs"],
                                                      duration_ms)) for c in calls)
    covered, reach = 0.0, 0.0
    for begin, end in intervals:
        start = max(begin, reach)
        if end > start:
            covered += end - start
            reach = end
    return round(min(covered / duration_ms, 1.0), 3)


def _hosts(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hosts: dict[str, dict[str, Any]] = {}
    for call in calls:
        entry = hosts.setdefault(str(call["host"]), {"host": str(call["host"]), "count": 0,
                                                     "errors": 0, "totalMs": 0.0, "maxMs": 0.0})
        entry["count"] += 1
        entry["errors"] += is_error(call)
        entry["totalMs"] += call["durationMs"]
        entry["maxMs"] = max(entry["maxMs"], call["durationMs"])
    for entry in hosts.values():
        entry["totalMs"] = _ms(entry["totalMs"])
    return sorted(hosts.values(), key=lambda entry: (-entry["totalMs"], entry["host"]))
