"""Conformance: each test's outcome from a pytest report log, and two runs compared (dev tools).

pytest-reportlog writes one JSON line per report: a test has a `setup`, `call` and `teardown`
report (and one per subtest), a collector one report. A test's outcome is named as pytest's
summary names it (passed, failed, skipped, xfailed, xpassed, error); an error in teardown
after a verdict is kept beside it (``passed+error``), so a test that starts erroring on
teardown differs too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A subtest's report (pytest's own `subtests`, unittest's subTest) names its test's node id.
REPORT_TYPES = ("TestReport", "CollectReport", "SubTestReport")
# The columns of the report, in pytest's order.
KINDS = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")


@dataclass(frozen=True)
class Outcome:
    """One test's outcome and, when it did not pass, pytest's one-line reason."""

    kinds: tuple[str, ...]
    message: str = ""

    @property
    def name(self) -> str:
        return "+".join(self.kinds)


ABSENT = Outcome(("absent",))  # a test that one run has and the other has not
WORKDIR = "<workdir>"  # stands for the run's folder in node ids that name a file in it


def read_log(path: Path, workdir: Path | None = None) -> dict[str, Outcome]:
    """Outcomes by node id from a report log; a missing or truncated log gives what it holds.
    A parameter naming a file under `workdir` names it under WORKDIR instead, so node ids
    match across runs made in different folders."""
    if not path.exists():
        return {}
    reports: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            report = json.loads(line)
        except ValueError:
            continue  # the last line of a run that was killed
        if report.get("$report_type") in REPORT_TYPES:
            nodeid = str(report["nodeid"])
            if workdir is not None:
                nodeid = nodeid.replace(str(workdir), WORKDIR)
            reports.setdefault(nodeid, []).append(report)
    outcomes = {nodeid: outcome_of(items) for nodeid, items in reports.items()}
    return {nodeid: outcome for nodeid, outcome in outcomes.items() if outcome is not None}


def outcome_of(reports: Iterable[Mapping[str, Any]]) -> Outcome | None:
    """A test's outcome from its reports; None for a collector that collected fine."""
    kinds: set[str] = set()
    message = ""
    for report in reports:
        kind = _kind(report)
        if kind is None:
            continue
        kinds.add(kind)
        if kind != "passed" and not message:
            message = _message(report)
    ordered = tuple(kind for kind in KINDS if kind in kinds)
    return Outcome(ordered, message) if ordered else None


def _kind(report: Mapping[str, Any]) -> str | None:
    outcome, when = report.get("outcome"), report.get("when")
    xfail = "wasxfail" in report
    kind = report.get("$report_type")
    if kind == "CollectReport":
        return "error" if outcome == "failed" else None
    if kind == "SubTestReport":  # the test's own report says the rest
        return "failed" if outcome == "failed" else None
    if when == "call":
        if xfail:
            return "xfailed" if outcome == "skipped" else "xpassed"
        return str(outcome)
    if outcome == "failed":
        return "error"
    if outcome == "skipped":  # skipped in setup (a skip mark, a fixture's pytest.skip)
        return "xfailed" if xfail else "skipped"
    return None


def _message(report: Mapping[str, Any]) -> str:
    longrepr = report.get("longrepr")
    if isinstance(longrepr, dict):
        crash = longrepr.get("reprcrash") or {}
        if isinstance(crash, dict) and crash.get("message"):
            return str(crash["message"])
        return str(longrepr.get("longrepr") or "")[:500]
    if isinstance(longrepr, list):  # a skip: (path, line, reason)
        return str(longrepr[-1])
    return str(report.get("wasxfail") or longrepr or "")


def counts(outcomes: Mapping[str, Outcome]) -> Counter[str]:
    """How many tests had each kind of outcome (a test with two kinds counts in both)."""
    counter: Counter[str] = Counter()
    for outcome in outcomes.values():
        counter.update(outcome.kinds)
    return counter


def differences(on: Mapping[str, Outcome], off: Mapping[str, Outcome]) -> list[str]:
    """Node ids whose outcome is not the same in both runs (missing in one run included)."""
    missing = ABSENT
    return sorted(nodeid for nodeid in on.keys() | off.keys()
                  if on.get(nodeid, missing).kinds != off.get(nodeid, missing).kinds)


def file_of(nodeid: str) -> str:
    """The test file a node id belongs to (the unit a difference is re-run in)."""
    return nodeid.split("::", 1)[0]
