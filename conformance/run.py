"""Conformance: one suite run with the capture on and off, side by side, and compared (dev tools).

Each mode runs in its own loopback-only network namespace (``unshare --net``) through
`conformance.driver`, in its own copy of the tests, so the two runs share nothing but the CPU.
Tests whose outcomes differ are re-run, file by file and `RERUNS` times in both modes: a
difference every re-run reproduces is a difference; one that comes and goes is flaky.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from conformance import outcomes, prepare
from conformance.outcomes import Outcome
from conformance.suites import Suite

RERUNS = 2
COLLECTOR_PORT = 9399  # httprecap's default; each namespace has its own loopback
TIMEOUT_S = 3600.0  # a run that hangs this long is stopped and reported
# A test that hangs this long fails (pytest-timeout) rather than holding up its whole run.
TEST_TIMEOUT_S = 120
DROPPED_ENV_PREFIXES = ("HTTPRECAP_", "_HTTPRECAP_", "AWS_")
DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


@dataclass(frozen=True)
class Setup:
    """What every run of this session uses."""

    python: Path  # the conformance venv's interpreter
    opt: Path  # the unpacked layer
    parallel: bool = True


@dataclass
class ModeRun:
    """One pytest run in one mode and what the collector saw during it."""

    mode: str
    outcomes: dict[str, Outcome]
    status: int | str
    seconds: float
    records: int
    dropped: int  # messages the collector dropped for breaking the contract
    rejected: dict[str, int]  # batches the collector refused, by reason
    log: Path


@dataclass
class Difference:
    """A test whose outcome is not the same with the capture on as without it."""

    nodeid: str
    on: str
    off: str
    message: str
    flaky: bool = False
    reruns: list[tuple[str, str]] = field(default_factory=list)  # (on, off) per re-run


@dataclass
class SuiteResult:
    """Everything the report says about one suite."""

    suite: str
    version: str
    on: ModeRun
    off: ModeRun
    differences: list[Difference]

    @property
    def tests(self) -> int:
        return len(self.on.outcomes.keys() | self.off.outcomes.keys())

    @property
    def confirmed(self) -> list[Difference]:
        return [diff for diff in self.differences if not diff.flaky]


def child_env(python: Path, mode: str) -> dict[str, str]:
    """The suites' environment: ours, minus anything of httprecap's, AWS's or another venv's.
    (Nothing is set to keep botocore from the instance metadata service: the namespace does,
    and its own tests of that service need it enabled.)"""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(DROPPED_ENV_PREFIXES) and name not in DROPPED_ENV}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    if mode == "on":
        env["HTTPRECAP_PORT"] = str(COLLECTOR_PORT)
    return env


def pytest_command(setup: Setup, suite: Suite, paths: tuple[str, ...], mode: str,
                   report_log: Path) -> list[str]:
    """``python -m pytest``, behind the layer's exec wrapper when the capture is on."""
    command = [str(setup.python), "-m", "pytest", "-p", "no:cacheprovider", "-q",
               f"--report-log={report_log}", f"--timeout={TEST_TIMEOUT_S}",
               *suite.options, *paths]
    return [str(setup.opt / "httprecap-wrapper"), *command] if mode == "on" else command


def start(setup: Setup, suite: Suite, source: Path, paths: tuple[str, ...], *, mode: str,
          label: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Starts one mode's run; its driver's spec file (the result lands beside it)."""
    cwd = prepare.workdir(suite, source, label)
    out = cwd.parent / f"{label}.out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    spec = {
        "command": pytest_command(setup, suite, paths, mode, out / "report.jsonl"),
        "cwd": str(cwd), "env": child_env(setup.python, mode), "port": COLLECTOR_PORT,
        "log": str(out / "pytest.log"), "result": str(out / "result.json"),
        "timeout": TIMEOUT_S,
    }
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    command = ["unshare", "--net", "--", sys.executable, "-m", "conformance.driver",
               str(spec_path)]
    return subprocess.Popen(command, cwd=prepare.ROOT), spec_path


def finish(process: subprocess.Popen[bytes], spec_path: Path, mode: str) -> ModeRun:
    """Waits for a run started by `start` and reads what it left."""
    process.wait()
    out = spec_path.parent
    result_path = out / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    workdir = Path(json.loads(spec_path.read_text())["cwd"])
    return ModeRun(mode, outcomes.read_log(out / "report.jsonl", workdir),
                   result.get("status", f"driver exited {process.returncode}"),
                   float(result.get("seconds", 0.0)), int(result.get("records", 0)),
                   int(result.get("dropped", 0)), dict(result.get("rejected", {})),
                   out / "pytest.log")


def run_both(setup: Setup, suite: Suite, source: Path, paths: tuple[str, ...],
             label: str) -> tuple[ModeRun, ModeRun]:
    """The same tests with the capture on and off; at once unless the setup says not to."""
    if not setup.parallel:
        on = finish(*start(setup, suite, source, paths, mode="on", label=f"{label}-on"), "on")
        off = finish(*start(setup, suite, source, paths, mode="off", label=f"{label}-off"),
                     "off")
        return on, off
    started = [start(setup, suite, source, paths, mode=mode, label=f"{label}-{mode}")
               for mode in ("on", "off")]
    on, off = (finish(process, spec, mode)
               for (process, spec), mode in zip(started, ("on", "off"), strict=True))
    return on, off


def run_suite(setup: Setup, suite: Suite, version: str, ci: bool) -> SuiteResult:
    """The suite in both modes, its differences re-run before they count."""
    source = prepare.sources(suite.name, version)
    on, off = run_both(setup, suite, source, suite.selected(ci), "full")
    found = [_difference(nodeid, on.outcomes, off.outcomes)
             for nodeid in outcomes.differences(on.outcomes, off.outcomes)]
    if found:
        rerun(setup, suite, source, found)
    return SuiteResult(suite.name, version, on, off, found)


def _difference(nodeid: str, on: dict[str, Outcome], off: dict[str, Outcome]) -> Difference:
    with_capture, without = on.get(nodeid, outcomes.ABSENT), off.get(nodeid, outcomes.ABSENT)
    return Difference(nodeid, with_capture.name, without.name,
                      with_capture.message or without.message)


def rerun(setup: Setup, suite: Suite, source: Path, found: list[Difference]) -> None:
    """Re-runs the differing tests' files; a difference any re-run does not show is flaky."""
    files = tuple(sorted({outcomes.file_of(diff.nodeid) for diff in found}))
    for attempt in range(1, RERUNS + 1):
        on, off = run_both(setup, suite, source, files, f"rerun{attempt}")
        for diff in found:
            judge(diff, on.outcomes, off.outcomes)


def judge(diff: Difference, on: dict[str, Outcome], off: dict[str, Outcome]) -> None:
    """Notes one re-run of `diff`'s test; it is flaky once a re-run does not repeat both
    original outcomes."""
    again = (_name(on, diff.nodeid), _name(off, diff.nodeid))
    diff.reruns.append(again)
    if again != (diff.on, diff.off):
        diff.flaky = True


def _name(found: dict[str, Outcome], nodeid: str) -> str:
    return found.get(nodeid, outcomes.ABSENT).name
