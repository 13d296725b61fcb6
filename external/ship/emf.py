"""Ship: the `emf` sink, CloudWatch Embedded Metric Format on stdout (extension process).

CloudWatch turns these log lines into metrics without any API call: per invocation, namespace
`httprecap`, the call count, errors and HTTP time by function name, and the same by function
name and host, so dashboards and alarms need nothing else; and the recap's findings
(docs/FINDINGS.md), counted by function name and kind (metric `Findings`, dimension `Finding`).
"""

from __future__ import annotations

import calendar
import time

from httprecap.external.ship.sink_base import Sink, compact_json
from httprecap.external.ship.stdout import write_lines

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.ship.sink_base import Entry
    from httprecap.recap_schema import Recap

NAMESPACE = "httprecap"
MAX_HOSTS = 30  # lines per recap; the busiest hosts come first in the summary
METRICS = [{"Name": "Calls", "Unit": "Count"}, {"Name": "Errors", "Unit": "Count"},
           {"Name": "HttpTime", "Unit": "Milliseconds"}]
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


def emf_lines(recap: EncodedRecap | Recap) -> list[str]:
    """One line for the invocation, one per host, one per kind of finding."""
    timestamp = epoch_ms(str(recap.get("startedAt", "")))
    summary = recap.get("summary") or {}
    common = {"FunctionName": recap.get("functionName") or "unknown",
              "requestId": recap.get("requestId"), "phase": recap.get("phase"),
              "status": recap.get("status")}
    lines = [_line(timestamp, ["FunctionName"], {
        **common, "Calls": summary.get("count", 0), "Errors": summary.get("errors", 0),
        "HttpTime": summary.get("totalHttpMs", 0.0)})]
    for host in (summary.get("hosts") or [])[:MAX_HOSTS]:
        lines.append(_line(timestamp, ["FunctionName", "Host"], {
            **common, "Host": host["host"], "Calls": host["count"], "Errors": host["errors"],
            "HttpTime": host["totalMs"]}))
    findings = summary.get("findings")
    if isinstance(findings, dict):
        lines += [_line(timestamp, ["FunctionName", "Finding"],
                        {**common, "Finding": kind, "Findings": count}, FINDING_METRICS)
                  for kind, count in findings.items()]
    return lines


class EmfSink(Sink):
    name = "emf"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    def send(self, entries: list[Entry]) -> list[Entry]:
        write_lines(self._stream, [line for entry in entries for line in emf_lines(entry.recap)])
        return []
