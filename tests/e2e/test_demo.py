"""The README's main command runs to completion and shows every scenario's recap and the
findings of the scenario written to earn them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("demo")
    layer = out / "layer.zip"
    shutil.copy(layer_zip, layer)  # newer than the sources: the demo must not rebuild it
    done = subprocess.run(
        [sys.executable, "-m", "httprecap.cli.main", "demo", "--out", str(out / "output"),
         "--layer", str(layer), "--color", "never"],
        capture_output=True, text=True, timeout=240, check=False)
    recaps = [json.loads(line) for line in
              (out / "output" / "recaps.jsonl").read_text().splitlines()]
    return {"done": done, "out": out / "output", "recaps": recaps}


def test_demo_exits_cleanly_reusing_the_built_layer(demo: dict[str, object]) -> None:
    done = demo["done"]
    assert isinstance(done, subprocess.CompletedProcess)
    assert done.returncode == 0, done.stderr
    assert "layer up to date" in done.stderr


def test_demo_prints_a_recap_per_invocation_with_every_endpoint(demo: dict[str, object]) -> None:
    done = demo["done"]
    assert isinstance(done, subprocess.CompletedProcess)
    text = done.stdout
    assert text.count("=== invocation ") == 5
    for expected in ("/slow", "/redirect", "attempt 1: 302", "/drop", "ConnectionError",
                     "/fail", "500", "s3 PutObject", "dynamodb PutItem"):
        assert expected in text, expected


def test_demo_writes_raw_recaps_and_an_html_report(demo: dict[str, object]) -> None:
    recaps = demo["recaps"]
    assert isinstance(recaps, list)
    assert [recap["status"] for recap in recaps] == ["success", "success", "success", "error",
                                                     "success"]
    operations = {(call["aws"]["service"], call["aws"]["operation"])
                  for recap in recaps for call in recap["calls"] if call.get("aws")}
    assert operations == {("s3", "PutObject"), ("dynamodb", "PutItem"), ("dynamodb", "GetItem")}
    out = demo["out"]
    assert isinstance(out, Path)
    html = (out / "report.html").read_text()
    assert all(recap["requestId"] in html for recap in recaps)


REORDER_KINDS = {"repeated-call", "identical-call", "sequential-calls"}


def test_the_reorder_scenario_carries_three_kinds_of_finding(demo: dict[str, object]) -> None:
    recaps = demo["recaps"]
    assert isinstance(recaps, list)
    reorder = recaps[4]
    kinds = {finding["kind"] for finding in reorder["findings"]}
    assert kinds >= REORDER_KINDS
    assert set(reorder["summary"]["findings"]) == kinds
    repeated = next(f for f in reorder["findings"] if f["kind"] == "repeated-call")
    assert repeated["batchOperation"] == "BatchGetItem" and repeated["count"] == 5
    assert not any(finding["kind"] in REORDER_KINDS
                   for recap in recaps[:4] for finding in recap.get("findings", []))


def test_demo_prints_the_findings_under_the_table_and_across_invocations(
        demo: dict[str, object]) -> None:
    done = demo["done"]
    assert isinstance(done, subprocess.CompletedProcess)
    reorder = done.stdout.split("=== invocation 5 of 5")[1].split("=== across")[0]
    findings = reorder.split("\n  findings:\n")[1].splitlines()
    printed = {line.split()[1] for line in findings if line.startswith("    ")}
    assert printed >= REORDER_KINDS
    assert "one BatchGetItem would do (calls 1, 2, 4, 6, 8)" in reorder
    overview = done.stdout.split("=== across the invocations ===")[1]
    assert "\nfindings: " in overview and "dynamodb GetItem orders" in overview


README = Path(__file__).resolve().parents[2] / "README.md"


VARYING = ((r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "ID"), (r"127\.0\.0\.1:\d+", "HOST"),
           (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z", "TIME"),
           (r"\d+\.\d+|\d+%|\d+ B", "N"), (r"\*", ""))


# A finding's line: its severity, kind and calls; its message's wording is the detectors' own.
FINDING_LINE = re.compile(r"^\s+(warning|info)\s+(\S+)\s.*?(\(calls? [^)]*\))?$")


def _shape(lines: list[str]) -> list[str]:
    """Lines with what changes from run to run (ids, ports, times, durations, shares, sizes,
    which of two equally slow calls is marked slowest) left out."""
    shaped = []
    for line in lines:
        finding = FINDING_LINE.match(line)
        text = " ".join(part or "" for part in finding.groups()) if finding else line
        for pattern, stand_in in VARYING:
            text = re.sub(pattern, stand_in, text)
        shaped.append(" ".join(text.split()))
    return shaped


def test_the_readmes_opening_example_is_the_demos_reorder_invocation(
        demo: dict[str, object]) -> None:
    done = demo["done"]
    assert isinstance(done, subprocess.CompletedProcess)
    printed = done.stdout.split("=== invocation 5 of 5")[1].split("=== across")[0].splitlines()
    printed = [line for line in printed[2:] if line.strip()]  # after the title and response
    example = README.read_text().split("```\n", 2)[1].splitlines()
    assert example[0].startswith("invocation ")
    # When this fails, paste the demo's fifth invocation (`make demo`) into the README.
    assert _shape(example) == _shape(printed)
