"""Aggregate: turns one invocation's state into the recap of docs/RECAP.md (extension process).

Pure functions of their inputs (no clock, no locks), so the schema and the summary maths are
tested without sockets. Field order follows docs/RECAP.md; readers should not rely on it, but
Logs Insights does: it discovers only a JSON event's first 200 flattened fields, so every field
a fleet query groups or counts by comes before the unbounded lists (`findings`, `calls`, which
encode.py writes last) and the per-host summary is bounded (recap_summary.py).
The calls arrive already encoded (encoded_call.py): what is left after the runtime's response is to
order them, write their offsets and sum them up, each in one pass.
"""

from __future__ import annotations

from collections import Counter

from httprecap.external.aggregate.encode import EncodedRecap
from httprecap.external.aggregate.encoded_call import (
    START_ORDER,
    EncodedCall,
    iso_us,
    ms,
    render_call,
)
from httprecap.external.aggregate.findings.facts import Facts
from httprecap.external.aggregate.function_context import (
    FunctionFacts,
    context_fields,
    level_of,
)
from httprecap.external.aggregate.recap_summary import covered_share
from httprecap.wire import INVALID_CALL

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from httprecap.external.aggregate.findings.registry import Findings
    from httprecap.external.aggregate.invocation_state import Invocation
    from httprecap.recap_schema import Dropped, Recap, RecapCall

__all__ = ["Context", "Outcome", "build_recap", "http_share", "iso_us", "parse_iso_us",
           "render_call", "resolve_outcome", "telemetry_status"]

TYPE = "httprecap.recap"
VERSION = 1
STATUSES = ("success", "error", "timeout", "failure")
# Lambda's errorType for a runtime process that died: exited (os._exit, a signal, an OOM kill
# on older platforms) or was killed for its memory.
CRASH_ERROR_TYPES = ("Runtime.ExitError", "Runtime.OutOfMemory")
HINT_NO_WRAPPER = (
    "httprecap's internal extension is not active, so no HTTP calls can be captured: set "
    "AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper in the function's environment."
)
HINT_SILENT = (
    "AWS_LAMBDA_EXEC_WRAPPER names httprecap's wrapper, but its internal extension has not "
    "reported anything yet: look for [httprecap] lines in the function's log."
)
DEFAULT_LEVELS = ("INFO", "WARN")


class Outcome:
    """How an invocation ended, from the best source that spoke."""

    __slots__ = ("duration_ms", "started_us", "status")

    def __init__(self, status: str | None, started_us: int, duration_ms: float) -> None:
        self.status = status  # None only when nothing could tell (no hand-off, no telemetry)
        self.started_us = started_us
        self.duration_ms = duration_ms


class Context:
    """What the recap needs besides the invocation itself."""

    __slots__ = ("carried", "extension_ms", "facts", "findings", "function_name",
                 "function_version", "hint", "levels", "tenant_id")

    def __init__(self, function_name: str, function_version: str, carried: Mapping[str, int],
                 extension_ms: float, hint: str | None = None, *,
                 findings: Findings | None = None, facts: FunctionFacts | None = None,
                 levels: tuple[str, str] = DEFAULT_LEVELS, tenant_id: str | None = None) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.carried = carried  # losses attributed to this recap from elsewhere
        self.extension_ms = extension_ms
        self.hint = hint
        self.findings = findings  # None: HTTPRECAP_FINDINGS is off
        self.facts = facts or FunctionFacts()
        # `level` of a quiet recap and of one whose invocation failed or made a failed call
        # (HTTPRECAP_RECAP_LEVEL, HTTPRECAP_RECAP_ERROR_LEVEL).
        self.levels = levels
        self.tenant_id = tenant_id  # a function in tenant-isolation mode


def parse_iso_us(text: str) -> int | None:
    """Epoch microseconds of a Telemetry API `time` (ISO-8601 with `Z`), or None."""
    from datetime import datetime  # only the rare fallback paths need it

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return round(moment.timestamp() * 1_000_000)


def telemetry_status(record: Mapping[str, Any]) -> str | None:
    """Map a runtimeDone/report status to a recap status: Lambda reports a runtime that
    exited or ran out of memory as `error` with its errorType; the recap calls a dead
    runtime a `failure` (docs/RECAP.md), whichever source tells."""
    status = record.get("status")
    if status == "error" and str(record.get("errorType", "")).startswith(CRASH_ERROR_TYPES):
        return "failure"
    return status if status in STATUSES else None


def resolve_outcome(inv: Invocation, now_us: int, override: str | None = None,
                    deadline_passed: bool = False) -> Outcome:
    """Status, start and duration: the hand-off first, then telemetry, then what we saw."""
    started = _started_us(inv, now_us)
    status = override or _status(inv, deadline_passed)
    if inv.end is not None and override is None and "durationMs" in inv.end:
        return Outcome(status, started, float(inv.end["durationMs"]))  # (checked: wire)
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
    if inv.gone:
        return "failure"  # the runtime process died: Lambda's Runtime.ExitError
    if deadline_passed:
        return "timeout"
    return "success" if inv.phase == "init" else None


def _started_us(inv: Invocation, now_us: int) -> int:
    if inv.end is not None and isinstance(inv.end.get("startedAtUs"), int):
        return int(inv.end["startedAtUs"])
    for candidate in (inv.platform_start_us, inv.invoked_at_us):
        if candidate is not None:
            return candidate
    starts = [call.begin_us for call in inv.calls]
    starts += [int(call["startedAtUs"]) for call in inv.starts.values()]
    return min(starts, default=now_us)


def build_recap(inv: Invocation, outcome: Outcome, context: Context) -> EncodedRecap:
    calls, running = ordered_calls(inv, outcome)
    started = outcome.started_us
    # Whole microseconds over 1000 have three decimals already: `ms()` would return them as
    # they are.
    offsets = [(call.begin_us - started) / 1000 for call in calls]
    texts = list(map(float.__repr__, offsets))  # what the JSON encoder writes for a float
    pieces = [f"{call.head}{text}{call.tail}" for call, text in zip(calls, texts, strict=True)]
    sizes = [call.size + len(text) for call, text in zip(calls, texts, strict=True)]
    for call in running:
        inv.tally.add(call)  # the invocation is over: its tally is final
    share = covered_share(offsets, [call.duration_ms for call in calls], outcome.duration_ms,
                          ordered=True)
    started_at = iso_us(outcome.started_us)
    fields: Recap = {
        "type": TYPE,
        "version": VERSION,
        "level": level_of(outcome.status, inv.tally.errors, context.levels),
        "timestamp": started_at,
        "phase": inv.phase,
        "requestId": inv.request_id,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        **context_fields(context.facts, inv.function_arn, context.tenant_id),  # type: ignore[typeddict-item]
        "status": outcome.status,
        "startedAt": started_at,
        "durationMs": ms(outcome.duration_ms),
        "traceId": inv.trace,
        "calls": [],  # the calls are `pieces`; encode.py writes them last
        "summary": inv.tally.summary(share),
        "dropped": _dropped(inv, context.carried),
        "overhead": {"functionUs": _function_us(inv), "extensionMs": ms(context.extension_ms)},
    }
    if context.findings is not None:
        _add_findings(fields, context.findings, Facts(
            calls, started_us=started, duration_ms=outcome.duration_ms, status=outcome.status,
            http_share=share, deadline_us=inv.deadline_us, phase=inv.phase))
    if context.hint:
        fields["hint"] = context.hint
    return EncodedRecap(fields, pieces, sizes)


def _add_findings(fields: Recap, findings: Findings, facts: Facts) -> None:
    """`findings` and `summary.findings` (docs/FINDINGS.md); a failure costs only them."""
    try:
        found, counts = findings.detect(facts)
    except Exception:
        found, counts = [], {}
    fields["summary"]["findings"] = dict(sorted(counts.items()))
    fields["findings"] = found


def _function_us(inv: Invocation) -> int | None:
    value = inv.end.get("overheadUs") if inv.end is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dropped(inv: Invocation, carried: Mapping[str, int]) -> Dropped:
    reasons: Counter[str] = Counter(inv.dropped)
    wire = inv.end.get("dropped") if inv.end is not None else None
    if isinstance(wire, dict):
        reasons.update({str(k): v for k, v in wire.items() if isinstance(v, int) and v > 0})
    reasons.update({k: v for k, v in carried.items() if v > 0})
    return {"count": sum(reasons.values()), "reasons": dict(sorted(reasons.items()))}


def ordered_calls(inv: Invocation,
                  outcome: Outcome) -> tuple[list[EncodedCall], list[EncodedCall]]:
    """Finished calls and still-running ones (`inFlight`, until the end), in start order;
    and the running ones alone."""
    end_us = outcome.started_us + round(outcome.duration_ms * 1000)
    running = []
    for call in inv.starts.values():
        try:
            running.append(EncodedCall(call, end_us))
        except Exception:  # a clock beyond any calendar (see store._encoded): not listed
            inv.dropped[INVALID_CALL] += 1
    return sorted(inv.calls + running, key=START_ORDER), running


def http_share(calls: list[RecapCall], duration_ms: float) -> float:
    """Share of [0, duration] covered by at least one recap call (overlaps counted once)."""
    return covered_share([call["offsetMs"] for call in calls],
                         [call["durationMs"] for call in calls], duration_ms)
