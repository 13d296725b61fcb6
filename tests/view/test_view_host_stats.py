"""Summary across invocations: per-host calls, error rate and nearest-rank latencies."""

from __future__ import annotations

from typing import Any

from httprecap.view.host_stats import percentile, summarize


def test_percentile_is_nearest_rank() -> None:
    values = [float(value) for value in range(1, 21)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


def test_overview_counts_invocations_by_status_and_failed_calls(
        recaps: list[dict[str, Any]]) -> None:
    overview = summarize(recaps)
    assert overview.invocations == 5
    assert overview.statuses == {"error": 1, "success": 3, "timeout": 1}
    assert (overview.calls, overview.errors) == (11, 5)


def test_hosts_are_kept_apart_by_port_and_sorted_by_calls(recaps: list[dict[str, Any]]) -> None:
    hosts = {host.host: host for host in summarize(recaps).hosts}
    upstream = hosts["127.0.0.1:8710"]
    assert (upstream.calls, upstream.errors) == (5, 2)
    assert upstream.error_rate == 0.4
    assert (upstream.p50_ms, upstream.p95_ms, upstream.max_ms) == (45.2, 2984.0, 2984.0)
    assert next(iter(hosts)) == "127.0.0.1:8710"
    assert hosts["s3.us-east-1.amazonaws.com"].calls == 2
