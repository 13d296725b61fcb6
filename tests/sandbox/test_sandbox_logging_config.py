"""The function's logging configuration (LoggingConfig) in the sandbox: Lambda's text and JSON
log formats, the application and system log levels, and the tenant of a tenant-isolated
function (docs/SANDBOX.md, *Logging configuration*)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sandbox_support import payload

from httprecap.errors import UsageError
from httprecap.sandbox import FunctionConfig, Sandbox
from httprecap.sandbox.log_levels import LogSettings, line_level
from httprecap.sandbox.logs import LogBook, start_line
from httprecap.sandbox.telemetry_delivery import make_event

STAMP = "2026-11-23T18:20:01.123456Z"


def _json(level: str, **fields: Any) -> str:
    return json.dumps({"level": level, "timestamp": STAMP, "message": "m", **fields})


# ---------------------------------------------------------------------------- the rules

def test_a_line_without_a_level_is_info() -> None:
    assert line_level("plain text") == "INFO"
    assert line_level('{"message": "no level", "timestamp": "2026-11-23T18:20:01Z"}') == "INFO"
    assert line_level("{not json") == "INFO"


def test_a_json_line_has_its_level_only_with_a_valid_timestamp() -> None:
    assert line_level(_json("warn")) == "WARN"
    assert line_level(json.dumps({"level": "ERROR"})) == "INFO"
    assert line_level(json.dumps({"level": "ERROR", "timestamp": "yesterday"})) == "INFO"
    assert line_level(json.dumps({"level": "ERROR", "timestamp": "2026-11-23T18:20:01"})) == \
        "INFO"  # RFC 3339 needs the offset
    assert line_level(_json("LOUD")) == "INFO"


def test_python_loggings_names_are_lambdas_levels() -> None:
    assert line_level(_json("WARNING")) == "WARN"
    assert line_level(_json("CRITICAL")) == "FATAL"


def test_text_format_keeps_every_line() -> None:
    book = LogBook()
    for source, text in (("function", "plain"), ("extension", _json("DEBUG")),
                         ("platform", start_line("r1"))):
        book.add(source, text)  # type: ignore[arg-type]
    book.add_event(make_event("platform.start", {"requestId": "r1"}))
    assert [line.text for line in book.all()] == ["plain", _json("DEBUG"), start_line("r1")]


def test_json_format_drops_application_lines_below_its_level() -> None:
    book = LogBook(settings=LogSettings("JSON", "WARN"))
    for source in ("function", "extension"):
        for text in ("plain", _json("INFO"), _json("WARN"), _json("ERROR"), _json("FATAL")):
            book.add(source, text)  # type: ignore[arg-type]
    assert [(line.source, json.loads(line.text)["level"]) for line in book.all()] == [
        ("function", "WARN"), ("function", "ERROR"), ("function", "FATAL"),
        ("extension", "WARN"), ("extension", "ERROR"), ("extension", "FATAL")]


def test_json_format_writes_platform_events_instead_of_text_lines() -> None:
    book = LogBook(settings=LogSettings("JSON"))
    book.add("platform", start_line("r1"))
    book.add("platform", "RequestId: r1 Error: Runtime exited with error: signal: killed")
    event = make_event("platform.start", {"requestId": "r1", "version": "$LATEST"})
    book.add_event(event)
    book.add_event(make_event("function", "a function line, logged by add()"))
    assert [line.text for line in book.all()] == [
        "RequestId: r1 Error: Runtime exited with error: signal: killed",
        json.dumps(event, separators=(",", ":"))]


@pytest.mark.parametrize(("system_level", "kept"), [
    ("DEBUG", ["platform.start", "platform.runtimeDone", "platform.report",
               "platform.logsDropped"]),
    ("INFO", ["platform.start", "platform.report", "platform.logsDropped"]),
    ("WARN", ["platform.logsDropped"]),
])
def test_the_system_log_level_filters_platform_events(system_level: str,
                                                      kept: list[str]) -> None:
    book = LogBook(settings=LogSettings("JSON", system_level=system_level))
    for kind in ("platform.start", "platform.runtimeDone", "platform.report",
                 "platform.logsDropped"):
        book.add_event(make_event(kind, {}))
    assert [json.loads(line.text)["type"] for line in book.all()] == kept


@pytest.mark.parametrize("settings", [
    {"application_log_level": "warn"},
    {"log_format": "text", "system_log_level": "debug"},
    {"log_format": "json", "application_log_level": "loud"},
    {"log_format": "json", "system_log_level": "error"},  # DEBUG, INFO or WARN only
    {"log_format": "yaml"},
    {"log_format": "text", "max_concurrency": 2},
    {"tenant_id": " "},
])
def test_a_configuration_lambda_refuses_is_a_usage_error(
        tmp_path: Any, settings: dict[str, Any]) -> None:
    config = FunctionConfig(code_dir=tmp_path, handler="app.levels", **settings)
    with pytest.raises(UsageError):
        Sandbox(config).start()


def test_managed_instances_log_json_by_default(tmp_path: Any) -> None:
    config = FunctionConfig(code_dir=tmp_path, handler="app.h", max_concurrency=2)
    assert config.logging == LogSettings("JSON", "INFO", "INFO")


# --------------------------------------------------------------- with the real runtime

def _function_lines(sandbox: Sandbox) -> list[str]:
    return [line.text for line in sandbox.logs if line.source == "function"]


def test_text_format_logs_every_line(open_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = open_sandbox("app.levels")
    result = sandbox.invoke({})
    lines = _function_lines(sandbox)
    assert "plain text" in lines
    assert any("without a timestamp" in line for line in lines)
    assert any(line.startswith("[WARNING]") for line in lines)
    assert any(line.startswith("REPORT RequestId: ") for line in
               [line.text for line in sandbox.logs])
    assert payload(result) == {"tenant": None}


def test_json_format_at_warn_keeps_warn_lines_and_the_platforms_json(
        open_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = open_sandbox("app.levels", log_format="json", application_log_level="warn")
    sandbox.invoke({})
    lines = _function_lines(sandbox)
    assert "plain text" not in lines
    assert not any("logging info" in line or "without a timestamp" in line for line in lines)
    warnings = [json.loads(line) for line in lines if "warn" in line]
    assert [entry["message"] for entry in warnings] == ["json warn", "logging warning"]
    assert warnings[1]["level"] == "WARNING"  # awslambdaric's JsonFormatter
    platform = [json.loads(line.text) for line in sandbox.logs if line.source == "platform"]
    assert [event["type"] for event in platform] == [
        "platform.initStart", "platform.initReport", "platform.start", "platform.report"]


def test_the_tenant_reaches_the_runtime_and_the_telemetry(
        open_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = open_sandbox("app.levels", tenant_id="tenant-7")
    result = sandbox.invoke({})
    assert payload(result) == {"tenant": "tenant-7"}
    records = {event["type"]: event["record"] for event in sandbox.telemetry}
    assert records["platform.start"]["tenantId"] == "tenant-7"
    assert records["platform.runtimeDone"]["tenantId"] == "tenant-7"
