"""`httprecap view` on files and stdin: output, filters, JSON pass-through, errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from httprecap.cli.main import main

Capture = pytest.CaptureFixture[str]


def _view(capsys: Capture, *args: str) -> tuple[int, str, str]:
    code = main(["view", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_file_of_recaps_prints_every_invocation(fixtures: Path, capsys: Capture) -> None:
    code, out, err = _view(capsys, str(fixtures / "recaps.jsonl"))
    assert code == 0 and err == ""
    assert out.count("\ninvocation ") + out.startswith("invocation ") == 4
    assert out.startswith("init (calls made while the function initialised)")


def test_cloudwatch_lines_report_skipped_lines_on_stderr(fixtures: Path, capsys: Capture) -> None:
    code, out, err = _view(capsys, str(fixtures / "cloudwatch.log"))
    assert code == 0
    assert err == "httprecap: skipped 2 unreadable lines\n"
    assert "c94020d1-9001-4995-b5a7-dc0a977d4372" in out


def test_stdin_is_read_with_a_dash(fixtures: Path, capsys: Capture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO((fixtures / "cloudwatch.log").read_text()))
    code, out, _ = _view(capsys, "-", "--summary")
    assert code == 0
    assert out.startswith("summary: 5 invocations")


def test_json_passes_the_filtered_recaps_through(fixtures: Path, capsys: Capture) -> None:
    code, out, err = _view(capsys, str(fixtures / "cloudwatch.log"), "--json", "--errors")
    assert code == 0 and err.startswith("httprecap: skipped")
    recaps = [json.loads(line) for line in out.splitlines()]
    assert [recap["requestId"] for recap in recaps] == [
        "c94020d1-9001-4995-b5a7-dc0a977d4372", "5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10",
        "9b0f3d57-6c1e-48a2-8a55-2e6f3c9d4e71"]
    assert all(recap["type"] == "httprecap.recap" for recap in recaps)


def test_json_without_filters_is_the_input(fixtures: Path, capsys: Capture) -> None:
    _, out, _ = _view(capsys, str(fixtures / "recaps.jsonl"), "--json")
    original = [json.loads(line) for line in (fixtures / "recaps.jsonl").read_text().splitlines()]
    assert [json.loads(line) for line in out.splitlines()] == original


def test_filters_narrow_the_tables(fixtures: Path, capsys: Capture) -> None:
    _, out, _ = _view(capsys, str(fixtures / "recaps.jsonl"), "--slower-than", "90",
                      "--host", "127.0.0.1:8710")
    assert "/slow" in out and "/v1/items" not in out and "GetObject" not in out


def test_filters_that_match_nothing_say_so(fixtures: Path, capsys: Capture) -> None:
    code, out, err = _view(capsys, str(fixtures / "recaps.jsonl"), "--host", "nowhere.invalid")
    assert (code, out.strip()) == (0, "")
    assert err == "httprecap: no invocation matches the filters (5 read)\n"


def test_colour_always_paints_even_into_a_pipe(fixtures: Path, capsys: Capture) -> None:
    _, out, _ = _view(capsys, str(fixtures / "recaps.jsonl"), "--color", "always")
    assert "\x1b[" in out
    _, plain, _ = _view(capsys, str(fixtures / "recaps.jsonl"))
    assert "\x1b[" not in plain


def test_empty_input_is_one_error_line(tmp_path: Path, capsys: Capture) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("START RequestId: x\n")
    code, out, err = _view(capsys, str(empty))
    assert (code, out) == (1, "")
    assert err == f"httprecap: error: no recaps found in {empty} (1 lines read)\n"


def test_a_missing_file_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    code, _, err = _view(capsys, str(tmp_path / "nope.jsonl"))
    assert code == 2
    assert err.startswith(f"httprecap: error: cannot read {tmp_path / 'nope.jsonl'}")


@pytest.mark.parametrize(("args", "message"), [
    (["--follow"], "--follow needs --log-group"),
    (["x.jsonl", "--log-group", "g"], "give either FILE|- or --log-group, not both"),
    (["--log-group", "g", "--follow", "--html", "r.html"], "--follow streams recaps"),
])
def test_conflicting_options_are_usage_errors(args: list[str], message: str,
                                              capsys: Capture) -> None:
    code, _, err = _view(capsys, *args)
    assert code == 2 and message in err


def test_html_is_written_and_announced(fixtures: Path, tmp_path: Path, capsys: Capture) -> None:
    report = tmp_path / "out/report.html"
    code, out, err = _view(capsys, str(fixtures / "recaps.jsonl"), "--html", str(report))
    assert code == 0 and out
    assert err == f"httprecap: HTML report: {report} (5 invocations)\n"
    assert report.read_text().startswith("<!DOCTYPE html>")
