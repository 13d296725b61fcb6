"""Findings in the terminal: under each invocation's table, and across invocations by kind and
endpoint (`httprecap view --findings`), from every source the viewer reads.

findings.jsonl holds, in order: an invocation with six DynamoDB GetItems, three sequential calls
and an http-bound finding; one with an identical GET and five GetItems; one with `findings: []`;
and one recorded without the field.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from httprecap.cli.main import main
from httprecap.view.filters import Selection, select
from httprecap.view.findings import (
    endpoint_of_call,
    format_numbers,
    group_findings,
    normalise_path,
    summarize_findings,
)
from httprecap.view.text import Style, render_findings_overview, render_recap

Recaps = list[dict[str, Any]]
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def with_findings(fixtures: Path) -> Recaps:
    lines = (fixtures / "findings.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _findings_block(text: str) -> list[str]:
    lines = text.splitlines()
    return [line.strip() for line in lines[lines.index("  findings:") + 1:]]


def test_findings_follow_the_table_with_severity_kind_message_and_call_numbers(
        with_findings: Recaps) -> None:
    text = render_recap(with_findings[0])
    assert text.index("/payments") < text.index("  findings:")
    assert [line.split(maxsplit=2)[:2] for line in _findings_block(text)] == [
        ["warning", "repeated-call"], ["warning", "sequential-calls"], ["info", "http-bound"]]
    block = _findings_block(text)
    assert block[0].endswith("6 dynamodb GetItem calls on orders (66.0 ms in all): "
                             "one BatchGetItem would do (calls 3-8)")
    assert block[1].endswith("(calls 1, 2, 9)")
    assert block[2].endswith("spent waiting on HTTP")  # about the invocation: no call numbers


def test_an_invocation_without_findings_prints_no_findings_block(with_findings: Recaps) -> None:
    assert "findings" not in render_recap(with_findings[2])
    assert "findings" not in render_recap(with_findings[3])


def test_call_numbers_follow_the_filtered_table(with_findings: Recaps) -> None:
    only_dynamodb = select(with_findings[:1], Selection(host="*.amazonaws.com"))
    block = _findings_block(render_recap(only_dynamodb[0]))
    assert len(block) == 2  # sequential-calls is about calls the filter left out
    assert block[0].endswith("(calls 1-6)")
    assert block[1].startswith("info")


def test_calls_missing_from_the_table_are_counted(with_findings: Recaps) -> None:
    truncated = {**with_findings[0], "calls": with_findings[0]["calls"][:4]}
    assert _findings_block(render_recap(truncated))[0].endswith(
        "(calls 3, 4; 4 more calls not shown)")
    assert _findings_block(render_recap({**truncated, "calls": []}))[0].endswith(
        "(6 calls not shown)")


def test_warnings_are_painted_only_with_colour(with_findings: Recaps) -> None:
    assert "\x1b[" not in render_recap(with_findings[0])
    coloured = render_recap(with_findings[0], Style(color=True))
    assert "\x1b[33mwarning  repeated-call" in coloured


def test_runs_of_three_or_more_calls_print_as_ranges() -> None:
    assert format_numbers([1, 2, 3, 5, 7, 8, 10, 11, 12, 13]) == "1-3, 5, 7, 8, 10-13"
    assert format_numbers([]) == ""


def test_ids_numbers_and_uuids_in_paths_are_normalised() -> None:
    assert normalise_path("/v2/customers/c-7/orders/42") == "/v2/customers/{id}/orders/{id}"
    assert normalise_path("/items/0f8e3c52-7a1b-4c9d-8e2f-3a4b5c6d7e8f") == "/items/{id}"
    assert normalise_path("/pricing") == "/pricing"


def test_an_aws_calls_endpoint_is_its_service_operation_and_resource() -> None:
    call = {"method": "POST", "host": "dynamodb.us-east-1.amazonaws.com", "path": "/",
            "aws": {"service": "dynamodb", "operation": "GetItem", "resource": "orders"}}
    assert endpoint_of_call(call) == "dynamodb GetItem orders"
    plain = {"method": "GET", "host": "127.0.0.1", "port": 8710, "scheme": "http",
             "path": "/customers/c-8"}
    assert endpoint_of_call(plain) == "GET 127.0.0.1:8710/customers/{id}"


def test_findings_group_by_kind_and_endpoint_across_invocations(with_findings: Recaps) -> None:
    groups = {(group.kind, group.endpoint): group for group in group_findings(with_findings)}
    repeated = groups["repeated-call", "dynamodb GetItem orders"]
    assert (repeated.severity, repeated.invocations, repeated.calls) == ("warning", 2, 11)
    assert repeated.example.startswith("6 dynamodb GetItem calls on orders")
    assert groups["identical-call", "GET 127.0.0.1:8710/customers/{id}"].calls == 2
    assert groups["http-bound", "(invocation)"].calls == 0
    assert [group.severity for group in group_findings(with_findings)] == [
        "warning", "warning", "info", "info"]


def test_the_overview_counts_findings_and_the_recaps_recorded_without_them(
        with_findings: Recaps) -> None:
    overview = summarize_findings(with_findings)
    assert (overview.findings, overview.with_findings, overview.without_field) == (5, 2, 1)
    text = render_findings_overview(overview)
    assert text.splitlines()[0].startswith("findings: 5 in 2 of 4 invocations (1 recorded "
                                           "without findings")
    assert text.splitlines()[1].split() == ["SEVERITY", "KIND", "ENDPOINT", "INVOCATIONS",
                                            "CALLS", "EXAMPLE"]
    row = next(line for line in text.splitlines() if "repeated-call" in line)
    assert row.split()[:7] == ["warning", "repeated-call", "dynamodb", "GetItem", "orders", "2",
                               "11"]


def test_no_findings_is_said_in_one_line(recaps: Recaps) -> None:
    text = render_findings_overview(summarize_findings(recaps[:1]))
    assert text == ("findings: none in 1 invocation (1 recorded without findings: turned off, "
                    "or a layer that predates them)")


def test_view_findings_reads_a_file(fixtures: Path, capsys: Capture) -> None:
    assert main(["view", str(fixtures / "findings.jsonl"), "--findings"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("findings: 5 in 2 of 4 invocations")
    assert "dynamodb GetItem orders" in out and "\ninvocation " not in out  # no tables


def test_view_findings_reads_stdin_and_applies_filters(fixtures: Path, capsys: Capture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    text = (fixtures / "findings.jsonl").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["view", "-", "--findings", "--host", "127.0.0.1"]) == 0
    out, _ = capsys.readouterr()
    assert "sequential-calls" in out and "identical-call" in out
    assert "repeated-call" not in out  # only DynamoDB calls, filtered out


def test_view_findings_excludes_the_other_outputs(fixtures: Path, capsys: Capture) -> None:
    assert main(["view", str(fixtures / "findings.jsonl"), "--findings", "--summary"]) == 2
    assert "give one of --json, --summary and --findings" in capsys.readouterr().err


def test_filtered_json_keeps_the_findings_of_the_kept_calls(with_findings: Recaps) -> None:
    kept = select(with_findings, Selection(slower_than_ms=100))
    assert [recap["requestId"] for recap in kept] == [with_findings[0]["requestId"]]
    assert [finding["kind"] for finding in kept[0]["findings"]] == ["sequential-calls",
                                                                   "http-bound"]
    assert kept[0]["summary"] == with_findings[0]["summary"]


def test_a_findings_own_endpoint_names_its_group() -> None:
    recap = {"requestId": "r-1", "calls": [{"id": "c-1", "method": "GET", "path": "/x/1"}],
             "findings": [{"kind": "slow-call", "severity": "info", "message": "slow",
                           "callIds": ["c-1"], "endpoint": "GET api.example.com/x/{id}"}]}
    assert [group.endpoint for group in group_findings([recap])] == ["GET api.example.com/x/{id}"]


def test_a_finding_about_a_host_is_grouped_by_its_host() -> None:
    recaps = [{"requestId": f"r-{index}",
               "calls": [{"id": "c-1", "method": "GET", "host": "api.example.com",
                          "path": f"/x/{index}"},
                         {"id": "c-2", "method": "POST", "host": "api.example.com",
                          "path": "/y"}],
               "findings": [{"kind": "no-timeout", "severity": "warning", "message": "no timeout",
                             "callIds": ["c-1", "c-2"], "host": "api.example.com"}]}
              for index in range(2)]
    groups = group_findings(recaps)
    assert [(group.endpoint, group.invocations, group.calls) for group in groups] == [
        ("api.example.com", 2, 4)]


def test_long_hex_segments_are_ids_but_words_are_not() -> None:
    assert normalise_path("/blobs/deadbeefcafebabe/meta") == "/blobs/{id}/meta"
    assert normalise_path("/feed/cafe") == "/feed/cafe"
