"""Terminal rendering: headers, call tables, markers, notes; colour only when asked."""

from __future__ import annotations

from typing import Any

from httprecap.view.host_stats import summarize
from httprecap.view.text import (
    Style,
    format_bytes,
    render_header,
    render_overview,
    render_recap,
    shorten,
)

Recaps = list[dict[str, Any]]


def _row(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def test_header_names_request_status_duration_and_http_share(recaps: Recaps) -> None:
    header = render_header(recaps[1])
    assert header.startswith("invocation c94020d1-9001-4995-b5a7-dc0a977d4372  success  182.4 ms")
    assert "HTTP 89%" in header and "4 calls, 1 failed" in header
    assert "orders-api $LATEST" in header and "2026-11-23 18:20:01.000Z" in header


def test_init_recap_says_it_is_the_init_phase(recaps: Recaps) -> None:
    assert render_header(recaps[0]).startswith("init (calls made while the function initialised)")


def test_a_managed_instances_workers_init_recap_names_the_worker(recaps: Recaps) -> None:
    worker_init = {**recaps[0], "requestId": "init:4242"}
    assert render_header(worker_init).startswith(
        "init of worker 4242 (calls made while it initialised)")


def test_table_lists_method_host_path_status_ms_bytes(recaps: Recaps) -> None:
    text = render_recap(recaps[1])
    assert _row(text, "#").split() == ["#", "METHOD", "HOST", "PATH", "STATUS", "MS", "SENT",
                                       "RECV", "ERROR"]
    assert _row(text, "/v1/items").split() == ["1", "GET", "127.0.0.1:8710", "/v1/items", "200",
                                               "45.2", "0", "B", "1.5", "KB"]


def test_aws_calls_show_service_and_operation(recaps: Recaps) -> None:
    assert "s3 GetObject /orders/2026/11/23.json" in render_recap(recaps[1])
    assert "dynamodb PutItem /" in render_recap(recaps[1])


def test_failed_and_slowest_calls_carry_plain_markers(recaps: Recaps) -> None:
    text = render_recap(recaps[1])
    assert _row(text, "GetObject").lstrip().startswith("!  2")
    assert _row(text, "/slow").lstrip().startswith("*  4")
    assert text.splitlines()[-1].strip() == "* slowest  ! failed"


def test_errors_and_in_flight_calls_are_described(recaps: Recaps) -> None:
    failing = render_recap(recaps[2])
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in failing
    assert _row(failing, "/fail").split()[5] == "500"
    hanging = render_recap(recaps[3])
    assert _row(hanging, "/slow").lstrip().startswith("!*~")
    assert "in flight when the invocation ended" in hanging


def test_attempts_of_a_redirected_call_are_listed_under_it(recaps: Recaps) -> None:
    text = render_recap(recaps[2])
    assert "attempt 1: 302 in 9.8 ms  http://127.0.0.1:8710/redirect" in text
    assert "attempt 2: 200 in 12.1 ms  http://127.0.0.1:8710/v1/items" in text


def test_notes_show_hint_and_dropped_records(recaps: Recaps) -> None:
    assert "dropped: 2 calls (bufferFull 2)" in render_recap(recaps[3])
    hinted = render_recap(recaps[4])
    assert "hint: AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper is not set" in hinted
    assert "(no HTTP calls)" in hinted


def test_no_escape_codes_without_colour_and_some_with_it(recaps: Recaps) -> None:
    assert "\x1b[" not in render_recap(recaps[2])
    coloured = render_recap(recaps[2], Style(color=True))
    assert "\x1b[31m" in coloured  # failing rows in red
    assert coloured.count("\n") == render_recap(recaps[2]).count("\n")


def test_overview_has_one_row_per_host(recaps: Recaps) -> None:
    text = render_overview(summarize(recaps))
    assert text.splitlines()[0] == ("summary: 5 invocations (1 error, 3 success, 1 timeout), "
                                    "11 calls, 5 failed")
    assert _row(text, "127.0.0.1:8710").split() == ["127.0.0.1:8710", "5", "2", "40.0%", "45.2",
                                                    "2984.0", "2984.0"]


def test_long_values_are_shortened_in_the_middle() -> None:
    assert shorten("/a/very/long/path/to/an/object.json", 15) == "/a/very…ct.json"
    assert len(shorten("x" * 100, 20)) == 20


def test_bytes_are_human_sized() -> None:
    assert [format_bytes(v) for v in (None, 0, 1023, 1536, 3 * 1024 * 1024)] == [
        "-", "0 B", "1023 B", "1.5 KB", "3.0 MB"]


def test_a_compact_recap_says_its_calls_were_left_out(recaps: Recaps) -> None:
    compact = {**recaps[1], "calls": [], "compact": True}
    text = render_recap(compact)
    assert "4 calls" in render_header(compact)  # the summary still counts them
    assert "(calls left out: a quiet invocation, kept compact (HTTPRECAP_KEEP=notable))" in text
    assert "no HTTP calls" not in text
