"""Ship: the `emf` sink, CloudWatch Embedded Metric Format on stdout (extension process).

CloudWatch turns these log lines into metrics without any API call: per invocation, namespace
`httprecap`, the call count, errors and HTTP time by function name, and the same by function
name and host, so dashboards and alarms need nothing else; and the recap's findings
(docs/FINDINGS.md), counted by function name and kind (metric `Findings`, dimension `Finding`).

Per host and per AWS operation (`Service`, `Operation`) each call's duration is a `Latency`
value, so CloudWatch computes percentiles over calls. Cardinality is bounded per recap: the
HTTPRECAP_EMF_TOP busiest hosts and operations (by calls) get their own dimension values, the
rest are summed under `other`. A metric takes at most 100 values per document (as AWS's EMF
libraries send them), so a host with more calls continues on lines that carry only `Latency`.

Every line has a `level` and a `timestamp`, for Lambda's JSON log format, which drops a line
below the function's application log level (a line without a level counts as INFO): the level
is that application log level itself (AWS_LAMBDA_LOG_LEVEL, which Lambda sets with
AWS_LAMBDA_LOG_FORMAT=JSON), so the metrics of quiet invocations are kept whatever level drops
their recaps; INFO without it.
"""

from __future__ import annotations

import calendar
import time

from httprecap.external.ship.sink_base import Sink, compact_json
from httprecap.external.ship.stdout import write_lines
from httprecap.settings import LAMBDA_LEVELS

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, BinaryIO

    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.ship.sink_base import Entry
    from httprecap.recap_schema import Recap

NAMESPACE = "httprecap"
DEFAULT_TOP = 10  # HTTPRECAP_EMF_TOP's default (core/settings.py)
OTHER = "other"  # the dimension value of everything past the top
MAX_VALUES = 100  # values of one metric in one EMF document
METRICS = [{"Name": "Calls", "Unit": "Count"}, {"Name": "Errors", "Unit": "Count"},
           {"Name": "HttpTime", "Unit": "Milliseconds"}]
OPERATION_METRICS = METRICS[:2]  # calls and failed calls
LATENCY = {"Name": "Latency", "Unit": "Milliseconds"}
FINDING_METRICS = [{"Name": "Findings", "Unit": "Count"}]


def epoch_ms(iso: str) -> int:
    """Epoch milliseconds of a recap's `startedAt` (2026-11-23T18:20:01.123456Z)."""
    try:
        seconds = calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))
        return seconds * 1000 + int(iso[20:23] or 0)
    except (ValueError, TypeError):
        return int(time.time() * 1000)


def _line(timestamp: int, dimensions: list[str], values: dict[str, Any],
          metrics: list[dict[str, str]] = METRICS) -> str:
    directive = {"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": metrics}
    document = {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]}, **values}
    return compact_json(document)


def log_level(environ: Mapping[str, str]) -> str:
    """The level that Lambda's log-level filtering keeps: the application log level."""
    level = environ.get("AWS_LAMBDA_LOG_LEVEL", "").strip().upper()
    level = "WARN" if level == "WARNING" else level
    return level if level in LAMBDA_LEVELS else "INFO"


def emf_lines(recap: EncodedRecap | Recap, top: int = DEFAULT_TOP,
              level: str = "INFO") -> list[str]:
    """One line for the invocation, per host, per AWS operation, per kind of finding."""
    started = str(recap.get("startedAt", ""))
    timestamp = epoch_ms(started)
    summary = recap.get("summary") or {}
    common = {"level": level, "timestamp": recap.get("timestamp") or started,
              "FunctionName": recap.get("functionName") or "unknown",
              "requestId": recap.get("requestId"), "phase": recap.get("phase"),
              "status": recap.get("status")}
    lines = [_line(timestamp, ["FunctionName"], {
        **common, "Calls": summary.get("count", 0), "Errors": summary.get("errors", 0),
        "HttpTime": summary.get("totalHttpMs", 0.0)})]
    calls = recap.get("calls") or []
    lines += _host_lines(timestamp, common, summary, calls, top)
    lines += _operation_lines(timestamp, common, calls, top)
    findings = summary.get("findings")
    if isinstance(findings, dict):
        lines += [_line(timestamp, ["FunctionName", "Finding"],
                        {**common, "Finding": kind, "Findings": count}, FINDING_METRICS)
                  for kind, count in findings.items()]
    return lines


def _host_rows(summary: Mapping[str, Any], top: int) -> list[tuple[str, int, int, float]]:
    """(host, calls, errors, ms) of the `top` busiest hosts of the summary, then of the rest
    as `other`, with the hosts the summary itself sums in `otherHosts`."""
    hosts = summary.get("hosts")
    ranked = sorted(hosts if isinstance(hosts, list) else [],
                    key=lambda host: (-host["count"], -host["totalMs"], host["host"]))
    rest = ranked[top:]
    summed = summary.get("otherHosts")
    if isinstance(summed, dict):
        rest.append(summed)
    rows = [(host["host"], host["count"], host["errors"], host["totalMs"]) for host in ranked[:top]]
    if rest:
        rows.append((OTHER, sum(h["count"] for h in rest), sum(h["errors"] for h in rest),
                     round(sum(h["totalMs"] for h in rest), 3)))
    return rows


def _host_lines(timestamp: int, common: dict[str, Any], summary: Mapping[str, Any],
                calls: list[Any], top: int) -> list[str]:
    """A line per host row, with its calls' durations as `Latency` where the recap lists
    its calls."""
    rows = _host_rows(summary, top)
    named = {row[0] for row in rows}
    by_host: dict[str, list[Any]] = {}
    for call in calls:
        host = call.get("host")
        by_host.setdefault(host if host in named else OTHER, []).append(call)
    lines: list[str] = []
    for host, count, errors, total_ms in rows:
        values = {**common, "Host": host, "Calls": count, "Errors": errors, "HttpTime": total_ms}
        lines += _with_latency(timestamp, ["FunctionName", "Host"], values, METRICS,
                               _durations(by_host.get(host, [])))
    return lines


def _operation_lines(timestamp: int, common: dict[str, Any], calls: list[Any],
                     top: int) -> list[str]:
    """Calls, failed calls and latency of each AWS operation the recap's calls made: the `top`
    busiest, then the rest as service and operation `other`."""
    operations: dict[tuple[str, str], list[Any]] = {}
    for call in calls:
        aws = call.get("aws")
        if isinstance(aws, dict):
            key = (str(aws.get("service")), str(aws.get("operation")))
            operations.setdefault(key, []).append(call)
    ranked = sorted(operations.items(), key=lambda item: (-len(item[1]), item[0]))
    grouped = ranked[:top]
    if ranked[top:]:
        grouped.append(((OTHER, OTHER), [call for _, more in ranked[top:] for call in more]))
    lines: list[str] = []
    for (service, operation), members in grouped:
        values = {**common, "Service": service, "Operation": operation, "Calls": len(members),
                  "Errors": sum(map(_failed, members))}
        lines += _with_latency(timestamp, ["FunctionName", "Service", "Operation"], values,
                               OPERATION_METRICS, _durations(members))
    return lines


def _durations(calls: list[Any]) -> list[float]:
    return [d for d in (call.get("durationMs") for call in calls) if isinstance(d, (int, float))]


def _failed(call: Any) -> bool:
    """As the summary counts errors: an exception, or a status of 400 or more."""
    status = call.get("status")
    return call.get("error") is not None or (isinstance(status, int) and status >= 400)


def _with_latency(timestamp: int, dimensions: list[str], values: dict[str, Any],
                  metrics: list[dict[str, str]], durations: list[float]) -> list[str]:
    """The line with the first MAX_VALUES durations as `Latency`, then lines of the rest that
    carry only `Latency` (so that counts are not added twice)."""
    if not durations:
        return [_line(timestamp, dimensions, values, metrics)]
    lines = [_line(timestamp, dimensions, {**values, "Latency": durations[:MAX_VALUES]},
                   [*metrics, LATENCY])]
    keys = {name: values[name] for name in ("level", "timestamp", "FunctionName", "requestId",
                                             "phase", "status", *dimensions)}
    for start in range(MAX_VALUES, len(durations), MAX_VALUES):
        lines.append(_line(timestamp, dimensions,
                           {**keys, "Latency": durations[start:start + MAX_VALUES]}, [LATENCY]))
    return lines


class EmfSink(Sink):
    name = "emf"

    def __init__(self, stream: BinaryIO | None = None, top: int = DEFAULT_TOP,
                 level: str = "INFO") -> None:
        self._stream = stream
        self._top = top  # HTTPRECAP_EMF_TOP
        self._level = level  # the application log level, which Lambda's filtering keeps

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EmfSink:
        from httprecap.settings import Settings

        return cls(top=Settings.from_environ(environ).emf_top, level=log_level(environ))

    def send(self, entries: list[Entry]) -> list[Entry]:
        # Every call, compact recap or not: metrics count the quiet invocations too.
        write_lines(self._stream, [line for entry in entries
                                   for line in emf_lines(entry.full, self._top, self._level)])
        return []
