"""How the harness starts each mode: the layer's wrapper in front of pytest only with the
capture on, and an environment with nothing of httprecap's or AWS's but what it sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.run import COLLECTOR_PORT, Setup, child_env, pytest_command
from conformance.suites import SUITES, by_name

SETUP = Setup(python=Path("/c/venv/bin/python"), opt=Path("/c/opt"))


def test_the_capture_on_runs_pytest_behind_the_layers_wrapper() -> None:
    suite = by_name(["requests"])[0]
    command = pytest_command(SETUP, suite, ("tests",), "on", Path("/r/report.jsonl"))
    assert command[:4] == ["/c/opt/httprecap-wrapper", "/c/venv/bin/python", "-m", "pytest"]
    assert "--report-log=/r/report.jsonl" in command
    assert command[-1] == "tests"


def test_the_capture_off_runs_pytest_alone() -> None:
    suite = by_name(["requests"])[0]
    command = pytest_command(SETUP, suite, ("tests",), "off", Path("/r/report.jsonl"))
    assert command[:3] == ["/c/venv/bin/python", "-m", "pytest"]
    assert not any("httprecap" in part for part in command)


def test_the_environment_keeps_nothing_of_httprecaps_or_aws(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPRECAP_DISABLED", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    for mode in ("on", "off"):
        env = child_env(SETUP.python, mode)
        assert "HTTPRECAP_DISABLED" not in env
        assert "AWS_ACCESS_KEY_ID" not in env
        assert "PYTHONPATH" not in env
        assert env["PATH"].startswith("/c/venv/bin")


def test_only_the_capture_on_is_told_the_collectors_port() -> None:
    assert child_env(SETUP.python, "on")["HTTPRECAP_PORT"] == str(COLLECTOR_PORT)
    assert "HTTPRECAP_PORT" not in child_env(SETUP.python, "off")


def test_suites_by_name_keep_their_order_and_refuse_unknown_names() -> None:
    assert [suite.name for suite in by_name(["botocore", "requests"])] == ["requests",
                                                                          "botocore"]
    assert by_name(None) == SUITES
    with pytest.raises(ValueError, match="unknown suite"):
        by_name(["curl"])


def test_ci_runs_a_fixed_part_of_botocore_and_all_of_the_others() -> None:
    selected = {suite.name: suite.selected(ci=True) for suite in SUITES}
    assert selected["botocore"] != by_name(["botocore"])[0].paths
    assert selected["requests"] == by_name(["requests"])[0].paths
