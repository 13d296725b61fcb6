"""View: renders recaps as terminal tables (dev-time CLI). Pure functions of data.

Each failing call gets a `!` marker, the slowest one `*`, a call still in flight `~`; with
colour on (a terminal, or `--color always`) the same rows are also painted, so the output reads
in CI logs and pipes as well as on a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from httprecap.view.findings import (
    Finding,
    FindingsOverview,
    call_numbers,
    findings_of,
    format_numbers,
)
from httprecap.view.host_stats import Overview
from httprecap.view.read import Call, Recap, calls_of, duration_of, host_label, is_failed

if TYPE_CHECKING:
    from httprecap.wire import ErrorInfo

RED, GREEN, YELLOW, MAGENTA, BOLD, DIM = "31", "32", "33", "35", "1", "2"
STATUS_COLOURS = {"success": GREEN, "error": RED, "timeout": RED, "failure": RED}
CALL_COLUMNS = ("", "#", "METHOD", "HOST", "PATH", "STATUS", "MS", "SENT", "RECV", "ERROR")
SEVERITY_COLOURS: dict[str, tuple[str, ...]] = {"warning": (YELLOW,), "info": ()}
RIGHT_ALIGNED = frozenset({"#", "STATUS", "MS", "SENT", "RECV", "CALLS", "ERRORS", "ERR%",
                           "P50 MS", "P95 MS", "MAX MS", "INVOCATIONS"})
WIDTHS = {"HOST": 36, "PATH": 48, "ERROR": 64, "ENDPOINT": 48, "EXAMPLE": 96}


@dataclass(frozen=True)
class Style:
    """ANSI colour on or off: every renderer takes one so tests can check both."""

    color: bool = False

    def paint(self, text: str, *codes: str) -> str:
        if not self.color or not codes or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"


def render_recaps(recaps: Sequence[Recap], style: Style = Style()) -> str:
    return "\n\n".join(render_recap(recap, style) for recap in recaps)


def render_recap(recap: Recap, style: Style = Style()) -> str:
    """The header of one invocation, its notes, the table of its calls and its findings."""
    lines = [render_header(recap, style), *render_notes(recap)]
    calls = calls_of(recap)
    if calls:
        lines += render_calls(calls, style)
    else:
        lines.append(f"  ({_no_calls(recap)})")
    lines += render_findings(findings_of(recap), calls, style)
    return "\n".join(lines)


def _no_calls(recap: Recap) -> str:
    if recap.get("compact"):  # HTTPRECAP_KEEP=notable: the summary still counts them
        return "calls left out: a quiet invocation, kept compact (HTTPRECAP_KEEP=notable)"
    return "no HTTP calls"


def render_header(recap: Recap, style: Style = Style()) -> str:
    status = str(recap.get("status", "unknown"))
    summary = recap.get("summary") or {}
    calls = calls_of(recap)
    failed = sum(is_failed(call) for call in calls)
    count = summary.get("count", len(calls))
    parts = [
        style.paint(_title(recap), BOLD),
        style.paint(status, STATUS_COLOURS.get(status, YELLOW), BOLD),
        format_ms(recap.get("durationMs")),
        f"HTTP {_share(summary.get('httpShare'))}",
        f"{count} call{'' if count == 1 else 's'}" + (f", {failed} failed" if failed else ""),
    ]
    function = " ".join(str(recap[key]) for key in ("functionName", "functionVersion")
                        if recap.get(key))
    parts += [part for part in (function, format_time(recap.get("startedAt"))) if part]
    return "  ".join(parts)


def _title(recap: Recap) -> str:
    if recap.get("phase") == "init":
        worker = str(recap.get("requestId") or "").partition(":")[2]
        if worker:  # Lambda Managed Instances: each worker process initialises on its own
            return f"init of worker {worker} (calls made while it initialised)"
        return "init (calls made while the function initialised)"
    return f"invocation {recap.get('requestId')}"


def format_time(value: object) -> str:
    """`2026-11-23T18:20:01.123456Z` -> `2026-11-23 18:20:01.123Z` (UTC, milliseconds)."""
    text = str(value or "")
    if len(text) < 23 or text[10] != "T":
        return text
    return f"{text[:10]} {text[11:23]}Z"


def render_notes(recap: Recap) -> list[str]:
    """What the reader must know besides the calls: hints, losses, truncation."""
    notes = []
    if recap.get("hint"):
        notes.append(f"  hint: {recap['hint']}")
    dropped = recap.get("dropped") or {}
    if dropped.get("count"):
        reasons = ", ".join(f"{name} {count}" for name, count in
                            sorted((dropped.get("reasons") or {}).items()))
        notes.append(f"  dropped: {dropped['count']} calls" + (f" ({reasons})" if reasons else ""))
    truncated = recap.get("truncated") or {}
    if truncated.get("calls"):
        notes.append(f"  truncated: {truncated['calls']} calls left out of this log line")
    return notes


def render_calls(calls: Sequence[Call], style: Style = Style()) -> list[str]:
    """The calls table (with each multi-attempt call's attempts under it) and its legend."""
    slowest = slowest_index(calls)
    rows = [_call_row(index, call, slowest) for index, call in enumerate(calls)]
    widths = _column_widths(CALL_COLUMNS, rows)
    lines = ["  " + style.paint(_format_row(CALL_COLUMNS, CALL_COLUMNS, widths), DIM)]
    for index, (call, row) in enumerate(zip(calls, rows, strict=True)):
        lines.append("  " + style.paint(_format_row(CALL_COLUMNS, row, widths),
                                        *_row_codes(call, index == slowest)))
        lines += _attempt_lines(call)
    legend = _legend(calls, slowest)
    return lines + ([style.paint("  " + legend, DIM)] if legend else [])


def slowest_index(calls: Sequence[Call]) -> int | None:
    """The slowest call's index, when there is more than one call to compare."""
    if len(calls) < 2:
        return None
    return max(range(len(calls)), key=lambda index: duration_of(calls[index]))


def _call_row(index: int, call: Call, slowest: int | None) -> tuple[str, ...]:
    marker = ("!" if is_failed(call) else "") + ("*" if index == slowest else "")
    if call.get("inFlight"):
        marker += "~"
    status = call.get("status")
    return (marker, str(index + 1), str(call.get("method") or "?"),
            shorten(host_label(call), WIDTHS["HOST"]),
            shorten(describe_target(call), WIDTHS["PATH"]),
            "-" if status is None else str(status), f"{duration_of(call):.1f}",
            format_bytes(call.get("bytesSent")), format_bytes(call.get("bytesReceived")),
            shorten(describe_error(call), WIDTHS["ERROR"]))


def describe_target(call: Call) -> str:
    """The path, led by the AWS operation for SDK calls (`s3 GetObject /bucket/key`)."""
    path = str(call.get("path") or "/")
    aws = call.get("aws")
    if isinstance(aws, dict) and aws.get("operation"):
        return f"{aws.get('service', '?')} {aws['operation']} {path}"
    return path


def describe_error(call: Call) -> str:
    error = call.get("error")
    if isinstance(error, dict):
        return _error_text(error)
    if call.get("inFlight"):
        return "in flight when the invocation ended"
    return ""


def _error_text(error: ErrorInfo) -> str:
    message = " ".join(str(error.get("message") or "").split())
    return f"{error.get('type', 'Error')}: {message}" if message else str(error.get("type"))


def _row_codes(call: Call, slowest: bool) -> tuple[str, ...]:
    if call.get("inFlight"):
        return (MAGENTA,)
    if is_failed(call):
        return (RED, BOLD) if slowest else (RED,)
    return (YELLOW, BOLD) if slowest else ()


def _attempt_lines(call: Call) -> list[str]:
    attempts = [attempt for attempt in call.get("attempts") or [] if isinstance(attempt, dict)]
    if len(attempts) < 2:
        return []
    lines = []
    for number, attempt in enumerate(attempts, 1):
        status = attempt.get("status")
        failure = attempt.get("error")
        error = _error_text(failure) if isinstance(failure, dict) else ""
        outcome = error or ("-" if status is None else str(status))
        lines.append(f"          attempt {number}: {outcome} in "
                     f"{format_ms(attempt.get('durationMs'))}  {attempt.get('url', '')}")
    return lines


def _legend(calls: Sequence[Call], slowest: int | None) -> str:
    parts = []
    if slowest is not None:
        parts.append("* slowest")
    if any(is_failed(call) for call in calls):
        parts.append("! failed")
    if any(call.get("inFlight") for call in calls):
        parts.append("~ in flight")
    return "  ".join(parts)


def render_findings(findings: Sequence[Finding], calls: Sequence[Call],
                    style: Style = Style()) -> list[str]:
    """One line per finding: severity, kind, message and the numbers of its calls in the
    table above (`calls 3-8`)."""
    if not findings:
        return []
    rows = [(str(finding.get("severity") or "info"), str(finding.get("kind") or "?"),
             _finding_text(finding, calls)) for finding in findings]
    widths = _column_widths(("", "", ""), rows)
    lines = ["  " + style.paint("findings:", BOLD)]
    for row in rows:
        text = "  ".join((row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]))
        lines.append("    " + style.paint(text, *SEVERITY_COLOURS.get(row[0], ())))
    return lines


def _finding_text(finding: Finding, calls: Sequence[Call]) -> str:
    message = " ".join(str(finding.get("message") or "").split())
    numbers, missing = call_numbers(finding, calls)
    where = []
    if numbers:
        where.append(f"call{'' if len(numbers) == 1 else 's'} {format_numbers(numbers)}")
    if missing:
        more = " more" if numbers else ""
        where.append(f"{missing}{more} call{'' if missing == 1 else 's'} not shown")
    return message + (f" ({'; '.join(where)})" if where else "")


def render_findings_overview(overview: FindingsOverview, style: Style = Style()) -> str:
    """Findings across invocations: one row per kind and endpoint, warnings first."""
    lines = [style.paint(_findings_title(overview), BOLD)]
    if not overview.groups:
        return lines[0]
    columns = ("SEVERITY", "KIND", "ENDPOINT", "INVOCATIONS", "CALLS", "EXAMPLE")
    rows = [(group.severity, group.kind, _shorten_endpoint(group.endpoint),
             str(group.invocations), str(group.calls), cut_end(group.example, WIDTHS["EXAMPLE"]))
            for group in overview.groups]
    widths = _column_widths(columns, rows)
    lines.append("  " + style.paint(_format_row(columns, columns, widths), DIM))
    for group, row in zip(overview.groups, rows, strict=True):
        lines.append("  " + style.paint(_format_row(columns, row, widths),
                                        *SEVERITY_COLOURS.get(group.severity, ())))
    return "\n".join(lines)


def _shorten_endpoint(endpoint: str) -> str:
    """A list of endpoints keeps its head (which calls it starts with); one endpoint both ends."""
    width = WIDTHS["ENDPOINT"]
    return cut_end(endpoint, width) if ", " in endpoint else shorten(endpoint, width)


def _findings_title(overview: FindingsOverview) -> str:
    plural = "" if overview.invocations == 1 else "s"
    title = (f"findings: {overview.findings} in {overview.with_findings} of "
             f"{overview.invocations} invocation{plural}" if overview.findings
             else f"findings: none in {overview.invocations} invocation{plural}")
    if overview.without_field:
        title += (f" ({overview.without_field} recorded without findings: turned off, "
                  "or a layer that predates them)")
    return title


def render_overview(overview: Overview, style: Style = Style()) -> str:
    """The summary across invocations: totals, then one row per host."""
    statuses = ", ".join(f"{count} {status}" for status, count in overview.statuses.items())
    lines = [style.paint(f"summary: {overview.invocations} invocations ({statuses}), "
                         f"{overview.calls} calls, {overview.errors} failed", BOLD)]
    columns = ("HOST", "CALLS", "ERRORS", "ERR%", "P50 MS", "P95 MS", "MAX MS")
    rows = [(shorten(host.host, WIDTHS["HOST"]), str(host.calls), str(host.errors),
             f"{host.error_rate:.1%}", f"{host.p50_ms:.1f}", f"{host.p95_ms:.1f}",
             f"{host.max_ms:.1f}") for host in overview.hosts]
    widths = _column_widths(columns, rows)
    lines.append("  " + style.paint(_format_row(columns, columns, widths), DIM))
    for host, row in zip(overview.hosts, rows, strict=True):
        lines.append("  " + style.paint(_format_row(columns, row, widths),
                                        *((RED,) if host.errors else ())))
    return "\n".join(lines)


def _column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(column), *(len(row[index]) for row in rows)])
            for index, column in enumerate(columns)]


def _format_row(columns: Sequence[str], row: Sequence[str], widths: Sequence[int]) -> str:
    cells = [cell.rjust(width) if column in RIGHT_ALIGNED else cell.ljust(width)
             for column, cell, width in zip(columns, row, widths, strict=True)]
    return "  ".join(cells).rstrip()


def shorten(text: str, width: int) -> str:
    """`text` cut to `width` characters, keeping both ends (paths differ at their tails)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def cut_end(text: str, width: int) -> str:
    """`text` cut to `width` characters at its end (prose reads from its start)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def format_ms(value: object) -> str:
    return f"{value:.1f} ms" if isinstance(value, (int, float)) else "? ms"


def format_bytes(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return "-"
    if value < 1024:
        return f"{value} B"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KB"
    return f"{value / 1024 / 1024:.1f} MB"


def _share(value: object) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) else "?"
