"""The harness reads each test's outcome from a pytest report log and compares two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.outcomes import Outcome, counts, differences, file_of, read_log


def report(nodeid: str, when: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {"$report_type": "TestReport", "nodeid": nodeid, "when": when, "outcome": outcome,
            "longrepr": None, **extra}


def crash(message: str) -> dict[str, Any]:
    return {"reprcrash": {"path": "t.py", "lineno": 1, "message": message},
            "reprtraceback": {}, "sections": []}


def test_passed(tmp_path: Path) -> None:
    log = write(tmp_path, *phases("t.py::ok", "passed", "passed", "passed"))
    assert read_log(log) == {"t.py::ok": Outcome(("passed",))}


def test_failed_keeps_the_crash_message(tmp_path: Path) -> None:
    log = write(tmp_path, report("t.py::bad", "setup", "passed"),
                report("t.py::bad", "call", "failed", longrepr=crash("AssertionError: 1 == 2")),
                report("t.py::bad", "teardown", "passed"))
    assert read_log(log) == {"t.py::bad": Outcome(("failed",), "AssertionError: 1 == 2")}


def test_skipped_in_setup(tmp_path: Path) -> None:
    log = write(tmp_path, report("t.py::s", "setup", "skipped",
                                 longrepr=["t.py", 3, "Skipped: no network"]),
                report("t.py::s", "teardown", "passed"))
    assert read_log(log) == {"t.py::s": Outcome(("skipped",), "Skipped: no network")}


def test_xfailed_and_xpassed(tmp_path: Path) -> None:
    log = write(tmp_path, report("t.py::xf", "call", "skipped", wasxfail="",
                                 longrepr=crash("boom")),
                report("t.py::xp", "call", "passed", wasxfail="reason"))
    found = read_log(log)
    assert found["t.py::xf"].kinds == ("xfailed",)
    assert found["t.py::xp"].kinds == ("xpassed",)


def test_a_teardown_error_is_kept_beside_the_verdict(tmp_path: Path) -> None:
    log = write(tmp_path, *phases("t.py::leaky", "passed", "passed", "failed"))
    assert read_log(log)["t.py::leaky"].name == "passed+error"


def test_a_setup_error(tmp_path: Path) -> None:
    log = write(tmp_path, report("t.py::e", "setup", "failed", longrepr=crash("fixture")),
                report("t.py::e", "teardown", "passed"))
    assert read_log(log)["t.py::e"] == Outcome(("error",), "fixture")


def test_a_failed_subtest_fails_its_test(tmp_path: Path) -> None:
    sub = {**report("t.py::sub", "call", "failed"), "$report_type": "SubTestReport"}
    log = write(tmp_path, sub, *phases("t.py::sub", "passed", "passed", "passed"))
    assert read_log(log)["t.py::sub"].name == "passed+failed"


def test_collection_errors_count_and_good_collectors_do_not(tmp_path: Path) -> None:
    log = write(tmp_path,
                {"$report_type": "CollectReport", "nodeid": "t.py", "outcome": "passed"},
                {"$report_type": "CollectReport", "nodeid": "u.py", "outcome": "failed",
                 "longrepr": "ImportError: no module named x"})
    assert read_log(log) == {"u.py": Outcome(("error",), "ImportError: no module named x")}


def test_a_truncated_last_line_is_ignored(tmp_path: Path) -> None:
    log = write(tmp_path, *phases("t.py::ok", "passed", "passed", "passed"))
    with log.open("a") as file:
        file.write('{"$report_type": "TestRep')
    assert list(read_log(log)) == ["t.py::ok"]


def test_a_missing_log_has_no_outcomes(tmp_path: Path) -> None:
    assert read_log(tmp_path / "absent.jsonl") == {}


def test_the_run_folder_in_parameters_is_replaced(tmp_path: Path) -> None:
    workdir = tmp_path / "full-on"
    log = write(tmp_path, report(f"t.py::test_x[{workdir}/t.py]", "call", "passed"))
    assert list(read_log(log, workdir)) == ["t.py::test_x[<workdir>/t.py]"]


def test_identical_runs_have_no_differences() -> None:
    run = {"a": Outcome(("passed",)), "b": Outcome(("failed",), "x")}
    assert differences(run, dict(run)) == []


def test_a_changed_outcome_and_a_missing_test_are_differences() -> None:
    off = {"a": Outcome(("passed",)), "b": Outcome(("passed",)), "c": Outcome(("skipped",))}
    on = {"a": Outcome(("passed",)), "b": Outcome(("failed",), "ResourceWarning")}
    assert differences(on, off) == ["b", "c"]


def test_messages_alone_are_no_difference() -> None:
    assert differences({"a": Outcome(("failed",), "at 0x1")},
                       {"a": Outcome(("failed",), "at 0x2")}) == []


def test_counts_by_kind() -> None:
    found = counts({"a": Outcome(("passed",)), "b": Outcome(("passed", "error")),
                    "c": Outcome(("skipped",))})
    assert (found["passed"], found["error"], found["skipped"], found["failed"]) == (2, 1, 1, 0)


def test_file_of_a_node_id() -> None:
    assert file_of("tests/test_a.py::TestX::test_y[1]") == "tests/test_a.py"
    assert file_of("tests/test_a.py") == "tests/test_a.py"


def phases(nodeid: str, setup: str, call: str, teardown: str) -> list[dict[str, Any]]:
    return [report(nodeid, "setup", setup), report(nodeid, "call", call),
            report(nodeid, "teardown", teardown)]


def write(folder: Path, *reports: dict[str, Any]) -> Path:
    log = folder / "report.jsonl"
    lines = [{"$report_type": "SessionStart", "pytest_version": "9"}, *reports]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return log
