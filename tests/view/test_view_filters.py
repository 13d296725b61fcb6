"""Filters: calls narrowed by failure, latency and host; invocations by request id."""

from __future__ import annotations

from typing import Any

from httprecap.view.filters import Selection, host_matches, select

Recaps = list[dict[str, Any]]


def _call_ids(recaps: Recaps) -> list[str]:
    return [call["id"] for recap in recaps for call in recap["calls"]]


def test_no_filter_keeps_everything_unchanged(recaps: Recaps) -> None:
    assert select(recaps, Selection()) == recaps


def test_errors_keeps_failed_calls_and_their_invocations(recaps: Recaps) -> None:
    kept = select(recaps, Selection(errors=True))
    assert _call_ids(kept) == ["a-3", "a-7", "a-8", "a-9", "a-11"]
    assert [recap["status"] for recap in kept] == ["success", "error", "timeout"]


def test_errors_keeps_a_failed_invocation_without_failed_calls(recaps: Recaps) -> None:
    crashed = {**recaps[1], "requestId": "crashed", "status": "failure"}
    kept = select([crashed], Selection(errors=True))
    assert [recap["requestId"] for recap in kept] == ["crashed"]
    assert _call_ids(kept) == ["a-3"]


def test_slower_than_keeps_calls_over_the_threshold(recaps: Recaps) -> None:
    assert _call_ids(select(recaps, Selection(slower_than_ms=40))) == ["a-2", "a-5", "a-11"]


def test_host_keeps_calls_to_that_host(recaps: Recaps) -> None:
    kept = select(recaps, Selection(host="s3.us-east-1.amazonaws.com"))
    assert _call_ids(kept) == ["a-3", "a-10"]


def test_filters_combine(recaps: Recaps) -> None:
    kept = select(recaps, Selection(errors=True, host="127.0.0.1:8710"))
    assert _call_ids(kept) == ["a-7", "a-11"]


def test_kept_recaps_keep_their_whole_summary(recaps: Recaps) -> None:
    [kept] = select(recaps[1:2], Selection(errors=True))
    assert kept["summary"] == recaps[1]["summary"]
    assert len(recaps[1]["calls"]) == 4  # the input is not modified


def test_request_id_keeps_one_invocation(recaps: Recaps) -> None:
    kept = select(recaps, Selection(request_id="5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10"))
    assert [recap["requestId"] for recap in kept] == ["5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10"]


def test_host_patterns() -> None:
    assert host_matches("api.example.com", "API.example.com")
    assert host_matches("api.example.com", "example.com")
    assert not host_matches("badexample.com", "example.com")
    assert host_matches("s3.us-east-1.amazonaws.com", "*.amazonaws.com")
    assert not host_matches("127.0.0.1:9", "127.0.0.1:8710")
