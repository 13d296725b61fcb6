"""Reading recaps: JSON lines, CloudWatch lines and exports; bad lines are counted, not fatal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from httprecap.view.read import is_failed, read_lines, read_text, recaps_in_line

REQUEST_IDS = ["init", "c94020d1-9001-4995-b5a7-dc0a977d4372",
               "5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10", "9b0f3d57-6c1e-48a2-8a55-2e6f3c9d4e71",
               "e1c7a2b4-0d3f-4a9e-b6c5-8f2d1e0a9b37"]


def _ids(recaps: list[dict[str, Any]]) -> list[str]:
    return [recap["requestId"] for recap in recaps]


def test_json_lines_give_every_recap_in_order(fixtures: Path) -> None:
    result = read_text((fixtures / "recaps.jsonl").read_text())
    assert _ids(result.recaps) == REQUEST_IDS
    assert (result.lines, result.unreadable) == (5, 0)


def test_recaps_are_found_among_cloudwatch_lines_and_bad_ones_counted(fixtures: Path) -> None:
    result = read_text((fixtures / "cloudwatch.log").read_text())
    assert _ids(result.recaps) == REQUEST_IDS
    assert result.unreadable == 2  # a recap cut short, and half a JSON line
    assert result.lines == 24


def test_a_filter_log_events_export_is_read_through_its_messages(fixtures: Path) -> None:
    result = read_text((fixtures / "filter-log-events.json").read_text())
    assert _ids(result.recaps) == REQUEST_IDS
    assert result.unreadable == 2


def test_a_recap_behind_a_prefix_is_decoded_whatever_the_spacing(
        recaps: list[dict[str, Any]]) -> None:
    compact = json.dumps(recaps[1], separators=(",", ":"))
    spaced = json.dumps(recaps[2])
    line = f"2026-11-23T18:20:01.500Z\tc94020d1\tINFO\t{compact}  {spaced}"
    found, unreadable = recaps_in_line(line)
    assert _ids(found) == REQUEST_IDS[1:3] and unreadable == 0


def test_a_log_event_line_with_a_message_field_is_opened(recaps: list[dict[str, Any]]) -> None:
    event = json.dumps({"timestamp": 1, "message": json.dumps(recaps[1])})
    assert _ids(read_lines([event]).recaps) == [REQUEST_IDS[1]]


def test_a_recap_with_reordered_keys_is_still_a_recap(recaps: list[dict[str, Any]]) -> None:
    reordered = json.dumps(dict(reversed(list(recaps[1].items()))))
    assert _ids(read_lines([reordered]).recaps) == [REQUEST_IDS[1]]


def test_an_unknown_schema_version_is_unreadable_not_misread(
        recaps: list[dict[str, Any]]) -> None:
    future = json.dumps({**recaps[1], "version": 2})
    result = read_lines([future])
    assert (result.recaps, result.unreadable) == ([], 1)


def test_other_output_is_passed_over_without_counting() -> None:
    lines = ["START RequestId: abc Version: $LATEST", '{"level": "info", "msg": "hello"}', "",
             "[INFO]\t2026-11-23T18:43:18.770Z\t\tFound credentials in environment variables.",
             "[WARNING]\t2026-11-23T18:43:19.045Z\t35556dad\tshipping not booked: ('a', 1)"]
    result = read_lines(lines)
    assert (result.recaps, result.unreadable, result.lines) == ([], 0, 5)


def test_empty_input_has_no_recaps() -> None:
    result = read_text("")
    assert (result.recaps, result.lines, result.unreadable) == ([], 0, 0)


def test_failed_means_exception_status_400_or_in_flight() -> None:
    assert is_failed({"status": 404, "error": None})
    assert is_failed({"status": None, "error": {"type": "TimeoutError", "message": ""}})
    assert is_failed({"status": None, "error": None, "inFlight": True})
    assert not is_failed({"status": 302, "error": None})
