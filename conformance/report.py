"""Conformance: the verdict on a session's results and the table that shows them (dev tools).

Pure functions of `SuiteResult`s. A suite fails when any outcome differs with the capture on
(flaky tests are shown, not counted), when the capture recorded no call (the run could not
tell a working capture from a missing one), when the capture-off run recorded any, when the
collector refused a batch or dropped a message, or when no test ran or a run did not finish.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.outcomes import counts
from conformance.run import ModeRun, SuiteResult

COLUMNS = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
HEADER = ("| suite | version | tests | with the capture | without | differences | records "
          "| time with / without |")
RULE = "|---|---|--:|--:|--:|--:|--:|--:|"
OUTCOMES_NOTE = "Outcomes are passed / failed / skipped / xfailed / xpassed / errors."


def problems(result: SuiteResult) -> list[str]:
    """Why this suite fails the conformance run; empty when it passes."""
    found = [f"outcome differs: {diff.nodeid} ({diff.on} with the capture, {diff.off} "
             f"without): {diff.message}" for diff in result.confirmed]
    if result.on.records == 0:
        found.append("the capture recorded no call")
    if result.off.records:
        found.append(f"{result.off.records} calls recorded with the capture off")
    for run in (result.on, result.off):
        found += _run_problems(run)
    return found


def _run_problems(run: ModeRun) -> list[str]:
    found = []
    if not run.outcomes:
        found.append(f"capture {run.mode}: no test ran (see {run.log})")
    if not isinstance(run.status, int):
        found.append(f"capture {run.mode}: {run.status} (see {run.log})")
    if run.rejected:
        found.append(f"capture {run.mode}: the collector refused batches: {run.rejected}")
    if run.dropped:
        found.append(f"capture {run.mode}: the collector dropped {run.dropped} invalid messages")
    return found


def outcome_cell(run: ModeRun) -> str:
    counted = counts(run.outcomes)
    return " / ".join(str(counted[kind]) for kind in COLUMNS)


def row(result: SuiteResult) -> str:
    confirmed = len(result.confirmed)
    flaky = len(result.differences) - confirmed
    differences = f"{confirmed}" + (f" ({flaky} flaky)" if flaky else "")
    time = f"{result.on.seconds:.0f} s / {result.off.seconds:.0f} s"
    return (f"| {result.suite} | {result.version} | {result.tests:,} | "
            f"{outcome_cell(result.on)} | {outcome_cell(result.off)} | {differences} | "
            f"{result.on.records:,} | {time} |")


def table(results: Sequence[SuiteResult]) -> str:
    """The Markdown table of docs/RELIABILITY.md."""
    return "\n".join([HEADER, RULE, *(row(result) for result in results), "",
                      OUTCOMES_NOTE])


def details(results: Sequence[SuiteResult]) -> str:
    """Every difference (confirmed or flaky) with its re-runs, and every problem."""
    lines = []
    for result in results:
        for diff in result.differences:
            label = "flaky" if diff.flaky else "differs"
            reruns = ", ".join(f"{on}/{off}" for on, off in diff.reruns)
            lines.append(f"{result.suite}: {label}: {diff.nodeid}: {diff.on} with the capture, "
                         f"{diff.off} without; re-runs (on/off): {reruns or 'none'}")
            lines.append(f"    {diff.message[:400]}")
        lines += [f"{result.suite}: FAIL: {problem}" for problem in problems(result)
                  if not problem.startswith("outcome differs")]
    return "\n".join(lines)


def passed(results: Sequence[SuiteResult]) -> bool:
    return bool(results) and not any(problems(result) for result in results)
