"""Aggregate: the recap's `summary`, kept as running totals while calls arrive (extension process).

Counts, sums, the slowest call and the per-host figures do not depend on the order calls
arrive in (sums of durations rounded to microseconds round back to the same value in any
order), so each call is added to a `Tally` when it arrives and the summary costs next to
nothing after the runtime's response. Only `httpShare` needs every call's offset, which is
known at the end: it is one pass over the calls, already in start order.

`hosts` lists the HOSTS_LIMIT hosts the invocation spent most time on; the others, if any, are
summed in `otherHosts`. The bound keeps the summary within the first 200 fields Logs Insights
discovers in a recap, however many hosts the calls went to (see recap.py).
"""

from __future__ import annotations

from httprecap.external.aggregate.encoded_call import START_ORDER, ms

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.recap_schema import HostSummary, OtherHosts, RecapSummary

HOSTS_LIMIT = 20


class Tally:
    """Running totals over the calls of one recap."""

    __slots__ = ("bytes_received", "bytes_sent", "count", "errors", "hosts", "slowest",
                 "total_ms")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.total_ms: float = 0  # an int until a duration is added, as sum() would have it
        self.bytes_sent = 0
        self.bytes_received = 0
        self.slowest: EncodedCall | None = None
        self.hosts: dict[str, list[Any]] = {}  # host -> [count, errors, totalMs, maxMs]

    def add(self, call: EncodedCall) -> None:
        self.add_all((call,))

    def add_all(self, calls: list[EncodedCall] | tuple[EncodedCall, ...]) -> None:
        """Add calls in the order they arrived (a batch's in one loop: this runs per call)."""
        hosts, slowest = self.hosts, self.slowest
        errors = sent = received = 0
        for call in calls:
            duration, failed = call.duration_ms, call.failed
            self.total_ms += duration
            errors += failed
            sent += call.bytes_sent
            received += call.bytes_received
            if slowest is None or _slower(call, slowest):
                slowest = call
            host = str(call.host)
            entry = hosts.get(host)
            if entry is None:
                entry = hosts[host] = [0, 0, 0.0, 0.0]
            entry[0] += 1
            entry[1] += failed
            entry[2] += duration
            entry[3] = max(entry[3], duration)
        self.slowest = slowest
        self.count += len(calls)
        self.errors += errors
        self.bytes_sent += sent
        self.bytes_received += received

    def summary(self, share: float) -> RecapSummary:
        slowest = self.slowest
        hosts = self._hosts()
        summary: RecapSummary = {
            "count": self.count,
            "errors": self.errors,
            "totalHttpMs": ms(self.total_ms),
            "httpShare": share,
            "bytesSent": self.bytes_sent,
            "bytesReceived": self.bytes_received,
            "slowest": None if slowest is None else {
                "id": slowest.id, "method": slowest.method, "host": slowest.host,
                "path": slowest.path, "durationMs": slowest.duration_ms},
            "hosts": hosts[:HOSTS_LIMIT],
        }
        if len(hosts) > HOSTS_LIMIT:
            summary["otherHosts"] = _others(hosts[HOSTS_LIMIT:])
        return summary

    def _hosts(self) -> list[HostSummary]:
        hosts: list[HostSummary] = [
            {"host": host, "count": count, "errors": errors, "totalMs": ms(total),
             "maxMs": longest}
            for host, (count, errors, total, longest) in self.hosts.items()]
        return sorted(hosts, key=lambda entry: (-entry["totalMs"], entry["host"]))


def _others(hosts: list[HostSummary]) -> OtherHosts:
    """The hosts left out of `hosts`, summed."""
    return {"hosts": len(hosts), "count": sum(entry["count"] for entry in hosts),
            "errors": sum(entry["errors"] for entry in hosts),
            "totalMs": ms(sum(entry["totalMs"] for entry in hosts)),
            "maxMs": max(entry["maxMs"] for entry in hosts)}


def _slower(call: EncodedCall, than: EncodedCall) -> bool:
    """The slowest call is the longest; of equally long ones, the first in recap order."""
    if call.duration_ms != than.duration_ms:
        return call.duration_ms > than.duration_ms
    return START_ORDER(call) < START_ORDER(than)


def covered_share(offsets: list[float], durations: list[float], duration_ms: float,
                  ordered: bool = False) -> float:
    """Share of [0, duration] covered by at least one call (overlaps counted once).

    `offsets` and `durations` are the calls' `offsetMs` and `durationMs`; `ordered`: the
    offsets are in ascending order already (a recap's calls), so they are not sorted again.
    """
    if duration_ms <= 0:
        return 0.0
    calls = zip(offsets, durations, strict=True)
    covered, reach = 0.0, 0.0
    for offset, duration in calls if ordered else sorted(calls):
        # The call clipped to the invocation (written out: max()/min() per call cost more).
        begin = 0.0 if offset < 0.0 else offset
        end = duration_ms if duration_ms < offset + duration else offset + duration
        start = reach if reach > begin else begin
        if end > start:
            covered += end - start
            reach = end
    return round(min(covered / duration_ms, 1.0), 3)
