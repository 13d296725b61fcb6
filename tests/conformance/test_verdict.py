"""The harness's verdict: it fails on a differing outcome or a capture that recorded nothing,
not on a flaky test, and judges re-runs."""

from __future__ import annotations

from pathlib import Path

from conformance import report
from conformance.outcomes import Outcome
from conformance.run import Difference, ModeRun, SuiteResult, judge

PASSED = Outcome(("passed",))
FAILED = Outcome(("failed",), "ResourceWarning: unclosed socket")


def mode_run(mode: str, records: int, **outcomes: Outcome) -> ModeRun:
    found = outcomes or {"t.py::a": PASSED}
    return ModeRun(mode, dict(found), 0, 1.0, records, 0, {}, Path("pytest.log"))


def result(on: ModeRun, off: ModeRun, *differences: Difference) -> SuiteResult:
    return SuiteResult("urllib3", "2.8.0", on, off, list(differences))


def test_identical_outcomes_with_records_pass() -> None:
    clean = result(mode_run("on", 12), mode_run("off", 0))
    assert report.problems(clean) == []
    assert report.passed([clean])


def test_no_record_with_the_capture_on_fails() -> None:
    silent = result(mode_run("on", 0), mode_run("off", 0))
    assert report.problems(silent) == ["the capture recorded no call"]
    assert not report.passed([silent])


def test_records_with_the_capture_off_fail() -> None:
    leaked = result(mode_run("on", 5), mode_run("off", 5))
    assert report.problems(leaked) == ["5 calls recorded with the capture off"]


def test_a_confirmed_difference_fails_and_names_the_test() -> None:
    diff = Difference("t.py::a", "failed", "passed", FAILED.message)
    differing = result(mode_run("on", 3, **{"t.py::a": FAILED}), mode_run("off", 0), diff)
    assert not report.passed([differing])
    assert report.problems(differing) == [
        "outcome differs: t.py::a (failed with the capture, passed without): "
        "ResourceWarning: unclosed socket"]


def test_a_flaky_difference_is_shown_but_does_not_fail() -> None:
    diff = Difference("t.py::a", "failed", "passed", FAILED.message, flaky=True)
    flaky = result(mode_run("on", 3), mode_run("off", 0), diff)
    assert report.passed([flaky])
    assert "| 0 (1 flaky) |" in report.row(flaky)
    assert "flaky: t.py::a" in report.details([flaky])


def test_a_run_without_tests_fails() -> None:
    empty = result(ModeRun("on", {}, 4, 0.1, 1, 0, {}, Path("x.log")), mode_run("off", 0))
    assert "capture on: no test ran (see x.log)" in report.problems(empty)


def test_refused_batches_and_dropped_messages_fail() -> None:
    on = ModeRun("on", {"t.py::a": PASSED}, 0, 1.0, 3, 2, {"invalid": 1}, Path("x.log"))
    problems = report.problems(result(on, mode_run("off", 0)))
    assert problems == ["capture on: the collector refused batches: {'invalid': 1}",
                        "capture on: the collector dropped 2 invalid messages"]


def test_no_suite_is_no_pass() -> None:
    assert not report.passed([])


def test_the_table_row_shows_both_modes_and_records() -> None:
    row = report.row(result(mode_run("on", 1234), mode_run("off", 0)))
    assert row == "| urllib3 | 2.8.0 | 1 | 1 / 0 / 0 / 0 / 0 / 0 | 1 / 0 / 0 / 0 / 0 / 0 | 0 " \
                  "| 1,234 | 1 s / 1 s |"


def test_a_rerun_that_repeats_both_outcomes_keeps_the_difference() -> None:
    diff = Difference("t.py::a", "failed", "passed", "")
    judge(diff, {"t.py::a": FAILED}, {"t.py::a": PASSED})
    judge(diff, {"t.py::a": FAILED}, {"t.py::a": PASSED})
    assert not diff.flaky
    assert diff.reruns == [("failed", "passed"), ("failed", "passed")]


def test_a_rerun_that_does_not_repeat_it_makes_it_flaky() -> None:
    diff = Difference("t.py::a", "failed", "passed", "")
    judge(diff, {"t.py::a": FAILED}, {"t.py::a": PASSED})
    judge(diff, {"t.py::a": PASSED}, {"t.py::a": PASSED})
    assert diff.flaky


def test_a_test_missing_from_a_rerun_is_absent() -> None:
    diff = Difference("t.py::a", "failed", "passed", "")
    judge(diff, {}, {"t.py::a": PASSED})
    assert diff.reruns == [("absent", "passed")]
    assert diff.flaky
