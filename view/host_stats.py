"""View: aggregates calls across invocations, per host (dev-time CLI and HTML report).

Latency percentiles use the nearest-rank method, so every figure shown is a duration some call
really had. In-flight calls count as failed (they never completed) and their duration (until
the invocation ended) counts too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from httprecap.view.read import Call, Recap, duration_of, host_label, is_failed, iter_calls


@dataclass(frozen=True)
class HostSummary:
    """One host's calls across the invocations read."""

    host: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class Overview:
    """The invocations read: how many, by status, and their calls per host."""

    invocations: int
    statuses: dict[str, int]
    calls: int
    errors: int
    hosts: list[HostSummary]


def summarize(recaps: Sequence[Recap]) -> Overview:
    calls = list(iter_calls(recaps))
    statuses = Counter(str(recap.get("status", "unknown")) for recap in recaps)
    return Overview(len(recaps), dict(sorted(statuses.items())), len(calls),
                    sum(is_failed(call) for call in calls), per_host(calls))


def per_host(calls: Iterable[Call]) -> list[HostSummary]:
    """Hosts sorted by call count, then by name."""
    by_host: dict[str, list[Call]] = {}
    for call in calls:
        by_host.setdefault(host_label(call), []).append(call)
    summaries = [_summarize_host(host, host_calls) for host, host_calls in by_host.items()]
    return sorted(summaries, key=lambda summary: (-summary.calls, summary.host))


def _summarize_host(host: str, calls: list[Call]) -> HostSummary:
    durations = sorted(duration_of(call) for call in calls)
    return HostSummary(host, len(calls), sum(is_failed(call) for call in calls),
                       percentile(durations, 50), percentile(durations, 95), durations[-1])


def percentile(ordered: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
