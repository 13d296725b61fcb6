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
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1200", "--hide-scrollbars",
              f"{findings_report.as_uri()}#finding={FIRST}:0")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (no port, no network):
    real mouse events on the page, and its DOM read back."""

    def __init__(self, url: str, profile: Path) -> None:
        import os

        assert CHROMIUM is not None
        to_chromium, self._commands = os.pipe()
        self._replies, from_chromium = os.pipe()

        def onto_fds_3_and_4() -> None:  # where --remote-debugging-pipe reads and writes
            import fcntl

            # Out of the way first (either end may itself be 3 or 4), then dup2, which also
            # makes them inheritable.
            reading, writing = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
                                for fd in (to_chromium, from_chromium))
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self._process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1400,900",
             f"--user-data-dir={profile}", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=onto_fds_3_and_4)  # noqa: PLW1509 (single-threaded)
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer = b""
        self._next_id = 0
        self._session = ""
        page = next(target for target in self._send("Target.getTargets")["targetInfos"]
                    if target["type"] == "page")
        self._session = self._send("Target.attachToTarget", targetId=page["targetId"],
                                   flatten=True)["sessionId"]
        # The page target may still hold about:blank: wait for the report's script to have run.
        self._wait_for("document.readyState === 'complete' && "
                       "document.querySelector('section.invocation') !== null")

    def _send(self, method: str, **params: object) -> dict[str, Any]:
        import os

        self._next_id += 1
        message: dict[str, object] = {"id": self._next_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result

    def _read(self) -> dict[str, Any]:
        import os
        import select as select_module

        while b"\0" not in self._buffer:
            ready, _, _ = select_module.select([self._replies], [], [], 30)
            assert ready, "Chromium did not answer within 30 s"
            chunk = os.read(self._replies, 1 << 16)
            assert chunk, "Chromium closed the DevTools pipe"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def evaluate(self, expression: str) -> Any:
        result = self._send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def _wait_for(self, condition: str) -> None:
        import time

        deadline = time.monotonic() + 30
        while not self.evaluate(condition):
            assert time.monotonic() < deadline, f"never true: {condition}"
            time.sleep(0.05)

    def centre_of(self, selector: str) -> tuple[float, float]:
        x, y = self.evaluate(
            f"(() => {{ const node = document.querySelector({json.dumps(selector)});"
            " node.scrollIntoView({block: 'center'}); const box = node.getBoundingClientRect();"
            " return [box.x + box.width / 2, box.y + box.height / 2]; })()")
        return float(x), float(y)

    def mouse(self, kind: str, x: float, y: float) -> None:
        extra: dict[str, object] = {}
        if kind != "mouseMoved":
            extra = {"button": "left", "clickCount": 1}
        self._send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def close(self) -> None:
        import os

        self._process.terminate()
        self._process.wait(timeout=30)
        os.close(self._commands)
        os.close(self._replies)


HIGHLIGHTED = ("[...document.querySelectorAll('.row.call.highlight')]"
               ".map((row) => row.dataset.callId)")
DETAIL = ("[...document.querySelectorAll('.finding-detail')].filter((node) => !node.hidden)"
          ".map((node) => node.textContent)")


@pytest.fixture
def browser(findings_report: Path, tmp_path: Path) -> Any:
    page = _Browser(findings_report.as_uri(), tmp_path / "profile")
    yield page
    page.close()


@pytest.mark.chromium
@needs_chromium
def test_chromium_hovering_a_finding_highlights_its_calls_and_shows_its_message(
        browser: _Browser) -> None:
    x, y = browser.centre_of(f'[data-finding="{FIRST}:1"]')
    browser.mouse("mouseMoved", x, y)
    assert browser.evaluate(HIGHLIGHTED) == ["a-1", "a-2", "a-9"]
    assert browser.evaluate(DETAIL) == [
        "warning sequential-calls: 3 independent calls ran one after another: running them "
        "concurrently would save 198 ms (47% of the invocation)"]
    browser.mouse("mouseMoved", 5, 5)  # away: nothing was selected, so nothing stays lit
    assert browser.evaluate(HIGHLIGHTED) == []
    assert browser.evaluate(DETAIL) == []


@pytest.mark.chromium
@needs_chromium
def test_chromium_clicking_a_finding_keeps_it_selected_and_in_the_fragment(
        browser: _Browser) -> None:
    x, y = browser.centre_of(f'[data-finding="{FIRST}:0"]')
    browser.mouse("mouseMoved", x, y)
    browser.mouse("mousePressed", x, y)
    browser.mouse("mouseReleased", x, y)
    browser.mouse("mouseMoved", 5, 5)
    assert browser.evaluate(HIGHLIGHTED) == ["a-3", "a-4", "a-5", "a-6", "a-7", "a-8"]
    assert browser.evaluate("location.hash") == f"#finding={FIRST}%3A0"
    browser.mouse("mouseMoved", x, y)  # a second click lets it go
    browser.mouse("mousePressed", x, y)
    browser.mouse("mouseReleased", x, y)
    browser.mouse("mouseMoved", 5, 5)
    assert browser.evaluate(HIGHLIGHTED) == []
    assert browser.evaluate("location.hash") == ""


@pytest.mark.chromium
@needs_chromium
def test_chromium_says_a_compact_recaps_calls_were_left_out(recaps: Recaps,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "compact.html"
    path.write_text(render_html([{**recaps[1], "calls": [], "compact": True}]), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", path.as_uri())
    assert ">calls left out: a quiet invocation, kept compact (HTTPRECAP_KEEP=notable)<" in dom
