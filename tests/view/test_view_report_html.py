"""HTML report: self-contained, and rendered by headless Chromium into the expected DOM."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from httprecap.view.report_html import embed_json, render_html

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium")
Recaps = list[dict[str, Any]]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


def test_the_page_loads_nothing_from_anywhere(recaps: Recaps) -> None:
    page = render_html(recaps)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert "url(http" not in page and "@import" not in page
    assert "default-src 'none'" in page  # the browser refuses any load, should one slip in


def test_embedded_data_cannot_close_its_script_element() -> None:
    text = embed_json({"message": "</script><script>alert(1)</script>", "line": "\u2028"})
    assert "</" not in text and "\u2028" not in text
    assert json.loads(text) == {"message": "</script><script>alert(1)</script>", "line": "\u2028"}


def test_the_title_is_escaped(recaps: Recaps) -> None:
    assert "<title>a &lt;b&gt; &amp; c</title>" in render_html(recaps, title="a <b> & c")


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


@pytest.fixture
def report(recaps: Recaps, tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_html(recaps, title="httprecap: fixture recaps"), encoding="utf-8")
    return path


def _rendered(dom: str, attribute: str) -> list[str]:
    """Values of `attribute` on elements the page's script built (not in the JSON island)."""
    body = dom.split('id="recap-data"', maxsplit=1)[0]
    return re.findall(rf'{attribute}="([^"]+)"', body)


@pytest.mark.chromium
@needs_chromium
def test_chromium_renders_every_invocation_and_call(report: Path, recaps: Recaps,
                                                     tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert _rendered(dom, "data-request-id") == [recap["requestId"] for recap in recaps]
    assert _rendered(dom, "data-call-id") == [call["id"] for recap in recaps
                                              for call in recap["calls"]]
    assert "showing 11 of 11 calls in 5 of 5 invocations" in dom
    assert 's3 GetObject' in dom and "ConnectionRefusedError: [Errno 111] Connection refused" in dom
    summary_hosts = _rendered(dom, "data-host")[:6]
    assert summary_hosts[0] == "127.0.0.1:8710"


@pytest.mark.chromium
@needs_chromium
def test_waterfall_bars_sit_at_their_offset_and_length(report: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri())
    # In invocation c94020d1 (182.4 ms) the /slow call starts at 71.0 ms and lasts 96.3 ms.
    row = re.search(r'data-call-id="a-5".*?class="bar s2" style="([^"]+)"', dom, re.S)
    assert row is not None
    left, width = (float(value) for value in re.findall(r"([\d.]+)%", row.group(1)))
    assert left == pytest.approx(71.0 / 182.4 * 100, abs=0.01)
    assert width == pytest.approx(96.3 / 182.4 * 100, abs=0.01)


@pytest.mark.chromium
@needs_chromium
def test_the_fragment_filters_to_failed_calls(report: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri() + "#errors=1")
    assert _rendered(dom, "data-call-id") == ["a-3", "a-7", "a-8", "a-9", "a-11"]
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri() + "#host=127.0.0.1:8710&q=slow")
    assert _rendered(dom, "data-call-id") == ["a-5", "a-11"]


@pytest.mark.chromium
@needs_chromium
def test_a_screenshot_is_kept_as_an_artifact(report: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "view-report.png"
    shot.unlink(missing_ok=True)
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900",
              "--hide-scrollbars", report.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


FIRST = "7f3c2a10-5b7e-4d0e-9a51-0c3e8b2f6d41"  # findings.jsonl: GetItems a-3..a-8


@pytest.fixture
def findings_report(fixtures: Path, tmp_path: Path) -> Path:
    recaps = [json.loads(line) for line in (fixtures / "findings.jsonl").read_text().splitlines()]
    path = tmp_path / "findings.html"
    path.write_text(render_html(recaps, title="httprecap: findings"), encoding="utf-8")
    return path


def _classes_of_calls(dom: str) -> dict[str, set[str]]:
    """Each call row's classes, by call id."""
    body = dom.split('id="recap-data"', maxsplit=1)[0]
    return {call_id: set(classes.split()) for classes, call_id in
            re.findall(r'class="(row call[^"]*)" data-call-id="([^"]+)"', body)}


def _detail(dom: str) -> list[str]:
    return re.findall(r'<div class="finding-detail[^"]*"( hidden="")?[^>]*>([^<]*)<', dom)


def test_the_page_carries_findings_grouped_across_invocations(fixtures: Path) -> None:
    recaps = [json.loads(line) for line in (fixtures / "findings.jsonl").read_text().splitlines()]
    page = render_html(recaps)
    data = json.loads(page.split('id="recap-data">', 1)[1].split("</script>", 1)[0])
    assert [(group["kind"], group["endpoint"], group["invocations"], group["calls"])
            for group in data["findings"]][:1] == [("repeated-call", "dynamodb GetItem orders",
                                                    2, 11)]


@pytest.mark.chromium
@needs_chromium
def test_chromium_marks_every_findings_calls_and_highlights_none_unselected(
        findings_report: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", findings_report.as_uri())
    rows = _classes_of_calls(dom)
    assert sorted(call_id for call_id, classes in rows.items() if "flagged" in classes) == sorted(
        [f"a-{number}" for number in range(1, 17)])  # every call of a finding, none else
    assert {call_id for call_id, classes in rows.items() if "highlight" in classes} == set()
    assert all(hidden for hidden, _ in _detail(dom))
    assert _rendered(dom, "data-finding") == [f"{FIRST}:0", f"{FIRST}:1", f"{FIRST}:2",
                                              "0d9e4b77-2c1a-4f3e-8b6d-5a4c3b2a1f00:0",
                                              "0d9e4b77-2c1a-4f3e-8b6d-5a4c3b2a1f00:1"]
    assert _rendered(dom, "data-kind") == ["repeated-call", "sequential-calls", "identical-call",
                                           "http-bound"]


@pytest.mark.chromium
@needs_chromium
def test_chromium_highlights_a_selected_findings_calls_and_shows_its_message(
        findings_report: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", f"{findings_report.as_uri()}#finding={FIRST}:0")
    rows = _classes_of_calls(dom)
    assert sorted(call_id for call_id, classes in rows.items() if "highlight" in classes) == [
        "a-3", "a-4", "a-5", "a-6", "a-7", "a-8"]
    shown = [text for hidden, text in _detail(dom) if not hidden]
    assert shown == ["warning repeated-call: 6 dynamodb GetItem calls on orders (66.0 ms in all): "
                     "one BatchGetItem would do"]
    assert re.search(rf'class="finding warning active selected" data-finding="{FIRST}:0"', dom)


@pytest.mark.chromium
@needs_chromium
def test_chromium_says_when_a_filter_hides_some_of_a_findings_calls(
        findings_report: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom",
                    f"{findings_report.as_uri()}#host=127.0.0.1:8710&finding={FIRST}:1")
    rows = _classes_of_calls(dom)
    assert sorted(call_id for call_id, classes in rows.items() if "highlight" in classes) == [
        "a-1", "a-2", "a-9"]
    dom = _chromium(tmp_path, "--dump-dom",
                    f"{findings_report.as_uri()}#q=payments&finding={FIRST}:1")
    assert next(text for hidden, text in _detail(dom) if not hidden).endswith(
        "(2 of its calls not shown)")


@pytest.mark.chromium
@needs_chromium
def test_chromium_finds_calls_by_the_kind_of_their_finding(findings_report: Path,
                                                            tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", findings_report.as_uri() + "#q=identical-call")
    assert _rendered(dom, "data-call-id") == ["a-10", "a-11"]


@pytest.mark.chromium
@needs_chromium
def test_a_screenshot_of_a_selected_finding_is_kept_as_an_artifact(findings_report: Path,
                                                                    tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "view-report-findings.png"
    shot.unlink(missing_ok=True)
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900", "--hide-scrollbars",
              f"{findings_report.as_uri()}#finding={FIRST}:0")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
