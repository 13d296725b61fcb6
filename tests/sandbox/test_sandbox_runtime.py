"""The runtime side: awslambdaric runs the handler as Lambda's managed Python runtime does."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

import pytest
from sandbox_support import FUNCTIONS, payload, telemetry_types

from httprecap.sandbox import InvokeResult

TRACE = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"


def test_hello_returns_the_handler_result_and_report_figures(open_sandbox) -> None:
    sandbox = open_sandbox("app.hello")
    first = sandbox.invoke({"name": "x"})
    second = sandbox.invoke({"name": "y"})
    assert payload(first) == {"message": "hello x"}
    assert (first.status, first.function_error, first.status_code) == ("success", None, 200)
    assert first.init_duration_ms is not None and 0 < first.init_duration_ms < 5000
    assert second.init_duration_ms is None
    assert uuid.UUID(second.request_id)
    assert second.billed_duration_ms >= second.duration_ms
    assert first.max_memory_mb > 0 and second.max_memory_mb >= first.max_memory_mb


def test_log_lines_are_cloudwatch_shaped(open_sandbox) -> None:
    result = open_sandbox("app.hello").invoke({"name": "x"})
    texts = [(line.source, line.text) for line in result.logs]
    assert texts[0][1].startswith("INIT_START Runtime Version: python:3.")
    assert ("platform", f"START RequestId: {result.request_id} Version: $LATEST") in texts
    assert ("function", "hello x") in texts
    assert texts[-2] == ("platform", f"END RequestId: {result.request_id}")
    report = texts[-1][1]
    assert report.startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    assert "\tBilled Duration: " in report and "\tMemory Size: 128 MB\t" in report
    assert "\tInit Duration: " in report and "Status" not in report


def test_runtime_environment_is_the_managed_runtimes(open_sandbox, monkeypatch) -> None:
    monkeypatch.setenv("CALLER_SECRET", "must-not-leak")
    sandbox = open_sandbox("app.inspect", env={"MY_VAR": "v", "WHERE": "/opt/thing"})
    seen = payload(sandbox.invoke({}))
    env = seen["env"]
    major, minor = sys.version_info[:2]
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{major}.{minor}"
    assert env["_HANDLER"] == "app.inspect"
    assert env["LAMBDA_TASK_ROOT"] == str(FUNCTIONS) == seen["cwd"]
    assert env["PYTHONPATH"] == env["LAMBDA_RUNTIME_DIR"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "httprecap-fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_LAMBDA_RUNTIME_API"] == sandbox.runtime_api
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].split("/")[3].startswith("[$LATEST]")
    assert env["MY_VAR"] == "v"
    assert env["WHERE"] == str(sandbox.opt_dir / "thing")
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert "CALLER_SECRET" not in env and "_LAMBDA_TELEMETRY_LOG_FD" not in env
    assert seen["memory"] == "128" and seen["log_group"] == "/aws/lambda/httprecap-fn"


def test_sys_path_puts_task_then_opt_python_dirs(open_sandbox, tmp_path) -> None:
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    sandbox = open_sandbox("app.inspect", layers=[layer])
    seen = payload(sandbox.invoke({}))
    opt = str(sandbox.opt_dir)
    major, minor = sys.version_info[:2]
    expected = [str(FUNCTIONS), f"{opt}/python/lib/python{major}.{minor}/site-packages",
                f"{opt}/python"]
    assert seen["sys_path"][:3] == expected


def test_context_carries_deadline_arn_and_trace(open_sandbox) -> None:
    sandbox = open_sandbox("app.inspect", timeout_s=5)
    traced = payload(sandbox.invoke({}, trace_id=TRACE))
    untraced = payload(sandbox.invoke({}))
    assert 4000 < traced["remaining_ms"] <= 5000
    assert traced["arn"] == "arn:aws:lambda:us-east-1:012345678912:function:httprecap-fn"
    assert traced["trace"] == TRACE
    assert untraced["trace"] is None


def test_handler_exception_is_an_unhandled_function_error(open_sandbox) -> None:
    sandbox = open_sandbox("app.boom")
    result = sandbox.invoke({})
    body = payload(result)
    assert (result.function_error, result.status, result.status_code) == ("Unhandled", "error", 200)
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom"
    assert body["requestId"] == result.request_id
    assert "Status" not in result.logs[-1].text
    assert sandbox.invoke({}).function_error == "Unhandled"  # the environment stays warm


def test_import_error_fails_init_then_the_suppressed_init(open_sandbox) -> None:
    sandbox = open_sandbox("missing_module.handler")
    result = sandbox.invoke({})
    assert result.function_error == "Unhandled"
    assert payload(result)["errorType"] == "Runtime.ImportModuleError"
    assert result.error_type == "Runtime.ImportModuleError"
    phases = [(e["record"]["phase"], e["record"]["status"]) for e in sandbox.telemetry
              if e["type"] == "platform.initReport"]
    assert phases == [("init", "error"), ("invoke", "error")]
    init_reports = [line.text for line in result.logs if line.text.startswith("INIT_REPORT")]
    assert "Phase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError" in init_reports[-1]


def test_timeout_resets_and_the_next_invoke_reinitialises(open_sandbox) -> None:
    sandbox = open_sandbox("app.sleep", timeout_s=0.5)
    result = sandbox.invoke({"s": 5})
    assert result.status == "timeout" and result.function_error == "Unhandled"
    message = payload(result)["errorMessage"]
    assert message.endswith(f"{result.request_id} Task timed out after 0.50 seconds")
    assert 450 <= result.duration_ms < 1500
    assert "Status: timeout" in result.logs[-1].text
    again = sandbox.invoke({"s": 0})
    assert payload(again) == {"slept": 0}
    starts = [e["record"]["phase"] for e in sandbox.telemetry if e["type"] == "platform.initStart"]
    assert starts == ["init", "invoke"]


def test_runtime_exit_is_a_runtime_exit_error(open_sandbox) -> None:
    sandbox = open_sandbox("app.crash")
    result = sandbox.invoke({"code": 3})
    assert payload(result) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: "
                        "exit status 3"}
    assert result.status == "error" and result.error_type == "Runtime.ExitError"
    done = [e["record"] for e in sandbox.telemetry if e["type"] == "platform.runtimeDone"]
    assert done[-1]["status"] == "error" and done[-1]["errorType"] == "Runtime.ExitError"


def test_response_over_6_mib_is_function_response_size_too_large(open_sandbox) -> None:
    result = open_sandbox("app.big").invoke({})
    assert payload(result)["errorType"] == "Function.ResponseSizeTooLarge"
    assert result.function_error == "Unhandled"


def test_memory_over_the_limit_kills_the_runtime(open_sandbox) -> None:
    sandbox = open_sandbox("app.hog", memory_mb=128, timeout_s=10)
    result = sandbox.invoke({"mb": 400})
    assert payload(result)["errorType"] == "Runtime.ExitError"
    assert payload(result)["errorMessage"].endswith("signal: killed")
    assert sandbox.invoke({"mb": 1}).status == "success"


def test_an_out_of_memory_kill_is_logged_once_with_the_size_what_was_held_and_by_whom(
        open_sandbox) -> None:
    sandbox = open_sandbox("app.hog", memory_mb=128, timeout_s=10)
    result = sandbox.invoke({"mb": 400})
    said = [line.text for line in result.logs
            if line.source == "platform" and line.text.startswith("SANDBOX out of memory")]
    assert len(said) == 1
    held = re.search(r"the environment held (\d+) MB, over its memory size of 128 MB; the "
                     r"runtime held (\d+) MB in (\d+) process\(es\), the largest pid (\d+) "
                     r"with (\d+) MB\.", said[0])
    assert held is not None, said[0]
    environment, runtime, _, _, largest = (int(group) for group in held.groups())
    assert environment > 128 and largest <= runtime <= environment


def test_runtime_api_refuses_wrong_ids_and_states(open_sandbox) -> None:
    answers = payload(open_sandbox("app.probe_runtime_api").invoke({}))
    assert answers["wrong_id"] == {"status": 400, "body": {
        "errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}}
    assert answers["init_error_late"]["status"] == 403
    assert answers["init_error_late"]["body"]["errorType"] == "InvalidStateTransition"
    assert answers["next_while_busy"]["status"] == 403


def test_bytes_results_pass_through(open_sandbox) -> None:
    result = open_sandbox("app.raw_bytes").invoke(b"{}")
    assert result.payload == b"\x00\x01binary"


def test_runtime_done_then_report_telemetry(open_sandbox) -> None:
    sandbox = open_sandbox("app.hello")
    result = sandbox.invoke({"name": "x"}, trace_id=TRACE)
    types = telemetry_types(sandbox.telemetry)
    assert types == ["platform.initStart", "platform.initRuntimeDone", "platform.initReport",
                     "platform.start", "function", "platform.runtimeDone", "platform.report"]
    events = {event["type"]: event for event in sandbox.telemetry}
    done = events["platform.runtimeDone"]["record"]
    assert [span["name"] for span in done["spans"]] == [
        "responseLatency", "responseDuration", "runtimeOverhead"]
    assert done["metrics"]["producedBytes"] == len(result.payload)
    assert done["tracing"] == {"type": "X-Amzn-Trace-Id", "value": TRACE}
    report = events["platform.report"]["record"]
    assert report["metrics"]["billedDurationMs"] == result.billed_duration_ms
    assert report["metrics"]["initDurationMs"] == pytest.approx(result.init_duration_ms, abs=0.01)
    assert "spans" not in report  # no extension, no extensionOverhead
    assert events["platform.start"]["time"].endswith("Z")
    assert json.loads(json.dumps(sandbox.telemetry)) == sandbox.telemetry


def test_invoke_async_reports_the_response_before_the_end(open_sandbox) -> None:
    sandbox = open_sandbox("app.hello")
    responses = []
    future = sandbox.invoke_async({"name": "a"}, on_response=responses.append)
    result: InvokeResult = future.result(timeout=10)
    assert responses[0].payload == result.payload
    assert responses[0].request_id == result.request_id


def test_processes_are_gone_after_shutdown(open_sandbox) -> None:
    sandbox = open_sandbox("app.inspect")
    pid = payload(sandbox.invoke({}))["pid"]
    sandbox.shutdown()
    time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
