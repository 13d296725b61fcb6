"""Lambda Managed Instances mode: forked awslambdaric workers run invocations at once; extensions
get SHUTDOWN only; the Telemetry API takes schema 2025-01-29 and reports LMI's event set."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import FUNCTIONS, free_port, payload, telemetry_types
from test_sandbox_cli import HTTPRECAP, ROOT, _wait_listening
from test_sandbox_lifecycle import _gone, _ticks

from httprecap.errors import UsageError
from httprecap.sandbox import FunctionConfig, Sandbox

LMI = "lambda-managed-instances"
SCHEMA = "2025-01-29"


def _lmi_extension(port: int | None = None, **config: object) -> dict[str, object]:
    """A test extension set up as one must be on LMI: SHUTDOWN only, schema 2025-01-29."""
    settings: dict[str, object] = {"events": ["SHUTDOWN"], **config}
    if port is not None:
        settings["telemetry"] = {"port": port, "schema": SCHEMA}
    return settings


def test_invocations_run_at_once_in_forked_workers(open_sandbox) -> None:
    sandbox = open_sandbox("app.worker", max_concurrency=4)
    sandbox.invoke({})  # the init: every worker is up once the first invocation is done
    time.sleep(0.5)
    futures = [sandbox.invoke_async({"s": 0.6}) for _ in range(4)]
    results = [future.result(timeout=30) for future in futures]
    seen = [payload(result) for result in results]
    assert all(result.status == "success" for result in results)
    assert len({entry["pid"] for entry in seen}) == 4
    assert len({entry["ppid"] for entry in seen}) == 1  # children of one runtime process
    assert [entry["request_id"] for entry in seen] == [result.request_id for result in results]
    assert _overlapping(seen)


def test_more_invocations_than_workers_wait_their_turn(open_sandbox) -> None:
    sandbox = open_sandbox("app.worker", max_concurrency=2)
    futures = [sandbox.invoke_async({"s": 0.3}) for _ in range(5)]
    results = [future.result(timeout=30) for future in futures]
    assert all(result.ok for result in results)
    assert len({payload(result)["pid"] for result in results}) == 2
    # The last one waited two rounds before it was admitted; its duration does not count it.
    last = max(results, key=lambda result: result.response_latency_ms)
    assert last.response_latency_ms - last.duration_ms > 500


def test_runtime_gets_concurrency_init_type_and_the_log_socket(open_sandbox) -> None:
    sandbox = open_sandbox("app.worker", max_concurrency=2)
    result = sandbox.invoke({})
    env = payload(result)["env"]
    assert env["AWS_LAMBDA_MAX_CONCURRENCY"] == "2"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == LMI
    assert Path(env["_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"]).is_socket()
    # A worker's stdout goes through that socket and still becomes a function log line.
    line = f"worker {payload(result)['pid']} {result.request_id}"
    assert ("function", line) in [(entry.source, entry.text) for entry in result.logs]
    assert ({"type": "function", "record": line}.items()
            <= next(e for e in sandbox.telemetry if e["record"] == line).items())


def test_externals_may_register_for_shutdown_only(open_sandbox, make_layer, journal) -> None:
    layer = make_layer(both={"events": ["INVOKE", "SHUTDOWN"]}, ext=_lmi_extension())
    sandbox = open_sandbox("app.hello", layers=[layer], max_concurrency=2, init_timeout_s=1.0)
    result = sandbox.invoke({"name": "x"})
    refused = journal.entries("register", "both")[0]
    assert refused["status"] == 403
    assert json.loads(refused["body"]) == {"errorMessage": "INVOKE: ErrorInvalidEventType",
                                           "errorType": "Extension.InvalidEventType"}
    assert not result.ok  # the refused one never registered: the init cannot finish
    assert journal.entries("register", "ext")[0]["status"] == 200


def test_a_shutdown_only_external_gets_no_invoke_and_a_spindown(open_sandbox, make_layer,
                                                                 journal) -> None:
    layer = make_layer(ext=_lmi_extension())
    sandbox = open_sandbox("app.hello", layers=[layer], max_concurrency=2)
    results = [sandbox.invoke({"name": str(n)}) for n in range(3)]
    sandbox.shutdown()
    assert all(result.ok for result in results)
    (event,) = journal.events("ext")
    assert event["eventType"] == "SHUTDOWN" and event["shutdownReason"] == "spindown"
    env = journal.entries("start", "ext")[0]["env"]
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == LMI
    assert "AWS_LAMBDA_MAX_CONCURRENCY" not in env
    assert "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET" not in env
    assert _gone(journal.entries("start", "ext")[0]["pid"], 1)


def test_internal_extensions_may_register_without_events_only(open_sandbox) -> None:
    sandbox = open_sandbox("lmi_internal.handler", max_concurrency=1)
    seen = payload(sandbox.invoke({}))
    assert seen["with_invoke"] == [403, {"errorMessage": "No events allowed for internal "
                                         "extensions",
                                         "errorType": "Extension.InvalidEventType"}]
    assert seen["no_events"] == 200


def test_telemetry_requires_schema_2025_01_29(open_sandbox, make_layer, journal) -> None:
    old = {"schemaVersion": "2022-12-13", "types": ["platform"],
           "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"}}
    layer = make_layer(ext=_lmi_extension(free_port(), probe_subscriptions=[old]))
    open_sandbox("app.hello", layers=[layer], max_concurrency=2).invoke({"name": "x"})
    (probe,) = journal.entries("probe", "ext")
    assert probe["status"] == 400
    assert json.loads(probe["body"]) == {"errorType": "ValidationError",
                                         "errorMessage": "schemaVersion must be one of "
                                         "2025-01-29"}
    assert journal.entries("subscribe", "ext")[0]["status"] == 200


def test_telemetry_is_lmis_event_set(open_sandbox, make_layer, journal) -> None:
    layer = make_layer(ext=_lmi_extension(free_port()))
    sandbox = open_sandbox("app.hello", layers=[layer], max_concurrency=2)
    trace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
    result = sandbox.invoke({"name": "x"}, trace_id=trace)
    sandbox.shutdown()
    received = journal.telemetry("ext")
    types = telemetry_types(received)
    assert "platform.runtimeDone" not in types
    by_type = {event["type"]: event["record"] for event in received}
    assert by_type["platform.initStart"]["initializationType"] == LMI
    assert by_type["platform.initReport"]["initializationType"] == LMI
    assert by_type["platform.extension"]["events"] == ["SHUTDOWN"]
    start = by_type["platform.start"]
    assert start["requestId"] == result.request_id
    assert start["functionArn"] == sandbox.config.function_arn
    assert start["tracing"] == {"type": "X-Amzn-Trace-Id", "value": trace}
    report = by_type["platform.report"]
    assert (report["requestId"], report["status"]) == (result.request_id, "success")
    assert list(report["metrics"]) == ["durationMs"]
    assert [span["name"] for span in report["spans"]] == ["responseLatency", "responseDuration"]


def test_nothing_is_frozen_between_invocations(open_sandbox, tmp_path) -> None:
    ticks = tmp_path / "ticks"
    sandbox = open_sandbox("app.background", max_concurrency=1)
    assert sandbox.invoke({"file": str(ticks)}).ok
    before = _ticks(ticks)
    time.sleep(0.3)
    assert _ticks(ticks) > before + 5


def test_a_timeout_fails_that_invocation_only(open_sandbox) -> None:
    sandbox = open_sandbox("app.worker", max_concurrency=2, timeout_s=1.0)
    hanging = sandbox.invoke_async({"s": 5})
    quick = sandbox.invoke({"s": 0})
    timed_out = hanging.result(timeout=30)
    assert quick.ok
    assert timed_out.status == "timeout" and timed_out.function_error == "Unhandled"
    assert "Task timed out after 1.00 seconds" in json.loads(timed_out.payload)["errorMessage"]
    assert sandbox.invoke({"s": 0}).ok
    inits = [e for e in sandbox.telemetry if e["type"] == "platform.initStart"]
    assert len(inits) == 1  # no reset: the environment went on serving


def test_a_runtime_exit_fails_every_invocation_and_resets(open_sandbox) -> None:
    sandbox = open_sandbox("app.worker", max_concurrency=2, timeout_s=10)
    sandbox.invoke({})
    bystander = sandbox.invoke_async({"s": 3})
    time.sleep(0.2)
    killer = sandbox.invoke({"kill_runtime": True, "s": 3})
    failed = bystander.result(timeout=30)
    for result in (killer, failed):
        assert (result.status, result.error_type) == ("error", "Runtime.ExitError")
        assert "signal: killed" in json.loads(result.payload)["errorMessage"]
    assert sandbox.invoke({}).ok  # a new environment
    inits = [e for e in sandbox.telemetry if e["type"] == "platform.initStart"]
    assert len(inits) == 2


def test_a_second_response_is_refused_and_the_worker_carries_on(open_sandbox) -> None:
    sandbox = open_sandbox("app.respond_twice", max_concurrency=1)
    first = sandbox.invoke({})
    assert payload(first) == {"posted": "by the handler"}
    assert payload(sandbox.invoke({})) == {"posted": "by the handler"}


def test_init_errors_of_every_worker_fail_the_init_once(open_sandbox) -> None:
    sandbox = open_sandbox("no_such_module.handler", max_concurrency=3)
    result = sandbox.invoke({})
    assert result.status == "error" and result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Runtime.ImportModuleError"
    done = [e["record"] for e in sandbox.telemetry if e["type"] == "platform.initRuntimeDone"]
    assert done[0]["errorType"] == "Runtime.ImportModuleError"


def test_max_concurrency_is_validated() -> None:
    config = FunctionConfig(code_dir=FUNCTIONS, handler="app.hello", max_concurrency=0)
    with pytest.raises(UsageError, match="max concurrency must be from 1 to 64"):
        Sandbox(config).start()


def test_shutdown_leaves_no_worker_running(open_sandbox) -> None:
    sandbox = open_sandbox("app.worker", max_concurrency=3)
    pids = {payload(f.result(timeout=30))["pid"]
            for f in [sandbox.invoke_async({"s": 0.2}) for _ in range(3)]}
    sandbox.shutdown()
    assert all(_gone(pid, 2) for pid in pids)


def test_run_sends_repeats_together(tmp_path) -> None:
    done = subprocess.run(
        [*HTTPRECAP, "run", "--code", str(FUNCTIONS), "--handler", "app.worker", "--event",
         '{"s": 0.5}', "--repeat", "4", "--max-concurrency", "4"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 4
    assert len({answer["pid"] for answer in answers}) > 1  # not one after the other in one


def test_serve_answers_concurrent_requests_at_once() -> None:
    port = free_port()
    server = subprocess.Popen(
        [*HTTPRECAP, "serve", "--code", str(FUNCTIONS), "--handler", "app.worker",
         "--port", str(port), "--max-concurrency", "4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port)
        _invoke_over_http(port, b"{}")  # warm: the init is not what this is about
        time.sleep(0.5)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: _invoke_over_http(port, b'{"s": 0.6}'), range(4)))
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
    assert len({answer["pid"] for answer in answers}) == 4
    assert _overlapping(answers)


def _overlapping(seen: list[dict[str, Any]]) -> bool:
    """Every handler had started before any of them ended: they ran at once."""
    return max(entry["started"] for entry in seen) < min(entry["ended"] for entry in seen)


def _invoke_over_http(port: int, body: bytes) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/2015-03-31/functions/function/invocations", body)
    answer: dict[str, Any] = json.loads(connection.getresponse().read())
    return answer



def test_memory_defaults_to_the_least_lambda_managed_instances_allow(open_sandbox) -> None:
    # 2 GiB: one vCPU at the least memory per vCPU a capacity provider may give.
    sandbox = open_sandbox("app.inspect", max_concurrency=4)
    seen = payload(sandbox.invoke({}))
    assert seen["memory"] == "2048" and seen["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "2048"


@pytest.mark.parametrize("memory_mb", [1024, 65536])
def test_memory_lambda_managed_instances_refuse_is_refused(memory_mb: int) -> None:
    config = FunctionConfig(code_dir=FUNCTIONS, handler="app.hello", max_concurrency=2,
                            memory_mb=memory_mb)
    with pytest.raises(UsageError, match="from 2048 to 32768 MB on Lambda Managed Instances"):
        Sandbox(config).start()
