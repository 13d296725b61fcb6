"""The Extensions API and external/internal extensions, through real extension processes."""

from __future__ import annotations

import http.client
import json
import time
import uuid

from sandbox_support import payload, telemetry_types

TRACE = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"


def _call(address: str, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], object]:
    connection = http.client.HTTPConnection(address, timeout=5)
    connection.request(method, path, body, headers or {})
    response = connection.getresponse()
    raw = response.read()
    return response.status, dict(response.getheaders()), json.loads(raw) if raw else None


def test_register_answers_identifier_and_function_details(open_sandbox, make_layer, journal):
    layer = make_layer(plain={}, featured={"register_headers": {
        "Lambda-Extension-Accept-Feature": "accountId"}})
    open_sandbox("app.hello", layers=[layer]).invoke({"name": "x"})
    plain = journal.entries("register", "plain")[0]
    featured = journal.entries("register", "featured")[0]
    assert plain["status"] == 200
    assert uuid.UUID(plain["headers"]["Lambda-Extension-Identifier"])
    assert plain["headers"]["Content-Type"] == "application/json"
    assert plain["body"] == ('{"functionName":"httprecap-fn","functionVersion":"$LATEST",'
                             '"handler":"app.hello"}')
    assert list(json.loads(featured["body"])) == [
        "accountId", "functionName", "functionVersion", "handler"]


def test_invoke_event_is_rapids_json(open_sandbox, make_layer, journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(ext={})], timeout_s=3)
    before = time.time() * 1000
    traced = sandbox.invoke({"name": "x"}, trace_id=TRACE)
    untraced = sandbox.invoke({"name": "y"})
    events = journal.events("ext")
    assert list(events[0]) == ["eventType", "deadlineMs", "requestId", "invokedFunctionArn",
                               "tracing"]
    assert events[0]["requestId"] == traced.request_id
    assert before + 2900 < events[0]["deadlineMs"] < before + 3000 + 2000
    assert events[0]["tracing"] == {"type": "X-Amzn-Trace-Id", "value": TRACE}
    assert events[0]["invokedFunctionArn"].endswith(":function:httprecap-fn")
    assert "tracing" not in events[1] and events[1]["requestId"] == untraced.request_id
    headers = journal.entries("event", "ext")[0]["headers"]
    assert uuid.UUID(headers["Lambda-Extension-Event-Identifier"])
    assert headers["Content-Type"] == "application/json"


def test_shutdown_is_spindown_with_an_epoch_deadline(open_sandbox, make_layer, journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(ext={})])
    sandbox.invoke({"name": "x"})
    now = time.time() * 1000
    sandbox.shutdown()
    shutdown = journal.events("ext")[-1]
    assert list(shutdown) == ["eventType", "deadlineMs", "shutdownReason"]
    assert shutdown["eventType"] == "SHUTDOWN" and shutdown["shutdownReason"] == "spindown"
    assert now + 1500 < shutdown["deadlineMs"] < now + 2500
    assert journal.entries("exit", "ext")
    assert ("extension", "[ext] SHUTDOWN") in [(line.source, line.text) for line in sandbox.logs]


def test_extension_environment_and_argv(open_sandbox, make_layer, journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(ext={})], env={
        "MY_VAR": "v", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/none.sh", "_PRIVATE": "x"})
    sandbox.invoke({"name": "x"})
    start = journal.entries("start", "ext")[0]
    env = start["env"]
    assert start["argv"] == [str(sandbox.opt_dir / "extensions" / "ext")]
    assert env["MY_VAR"] == "v"
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == str(sandbox.opt_dir / "none.sh")
    assert env["AWS_LAMBDA_RUNTIME_API"] == sandbox.runtime_api
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "httprecap-fn" and env["AWS_SESSION_TOKEN"]
    for runtime_only in ("_HANDLER", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT",
                         "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_LOG_GROUP_NAME",
                         "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_XRAY_DAEMON_ADDRESS", "_PRIVATE"):
        assert runtime_only not in env


def test_exec_wrapper_missing_is_exit_127(open_sandbox):
    sandbox = open_sandbox("app.hello", env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/none.sh"})
    result = sandbox.invoke({"name": "x"})
    assert payload(result)["errorMessage"].endswith("exit status 127")
    assert ("function", f"{sandbox.opt_dir}/none.sh: does not exist") in [
        (line.source, line.text) for line in result.logs]


def test_exec_wrapper_not_executable_is_exit_126(open_sandbox, tmp_path):
    layer = tmp_path / "wrap"
    layer.mkdir()
    (layer / "wrap.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    (layer / "wrap.sh").chmod(0o644)
    sandbox = open_sandbox("app.hello", layers=[layer],
                           env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap.sh"})
    assert payload(sandbox.invoke({}))["errorMessage"].endswith("exit status 126")


def test_exec_wrapper_runs_the_runtime_with_its_environment(open_sandbox, tmp_path):
    layer = tmp_path / "wrap"
    layer.mkdir()
    (layer / "wrap.sh").write_text(
        '#!/bin/sh\nexport WRAPPED="$#:$1"\nexport PYTHONPATH="/somewhere"\nexec "$@"\n')
    (layer / "wrap.sh").chmod(0o755)
    sandbox = open_sandbox("app.inspect", layers=[layer],
                           env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap.sh"})
    seen = payload(sandbox.invoke({}))
    assert seen["env"]["WRAPPED"].startswith("2:/")
    # A PYTHONPATH from the wrapper: bootstrap.py leaves /opt/python out, as on AWS.
    assert not any(str(sandbox.opt_dir) in entry for entry in seen["sys_path"])
    assert seen["env"]["PYTHONPATH"] == "/somewhere"


def test_api_errors_are_403_with_rapids_types(open_sandbox, make_layer):
    sandbox = open_sandbox("app.hello", layers=[make_layer(ext={})])
    sandbox.invoke({"name": "x"})
    api = sandbox.runtime_api
    next_path = "/2020-01-01/extension/event/next"
    cases = {
        "Extension.MissingExtensionIdentifier": _call(api, "GET", next_path),
        "Extension.InvalidExtensionIdentifier": _call(
            api, "GET", next_path, headers={"Lambda-Extension-Identifier": "nope"}),
        "Extension.UnknownExtensionIdentifier": _call(
            api, "GET", next_path, headers={"Lambda-Extension-Identifier": str(uuid.uuid4())}),
        "Extension.RegistrationClosed": _call(
            api, "POST", "/2020-01-01/extension/register", b"{}",
            {"Lambda-Extension-Name": "late"}),
        "Extension.InvalidExtensionName": _call(
            api, "POST", "/2020-01-01/extension/register", b"{}"),
    }
    for error_type, (status, _, body) in cases.items():
        assert status == 403, error_type
        assert body["errorType"] == error_type and body["errorMessage"]
    assert cases["Extension.InvalidExtensionIdentifier"][2] == {
        "errorMessage": "Invalid Lambda-Extension-Identifier",
        "errorType": "Extension.InvalidExtensionIdentifier"}


def test_internal_extension_gets_invoke_and_may_not_take_shutdown(open_sandbox):
    sandbox = open_sandbox("internal_ext.handler")
    first = sandbox.invoke({})
    second = payload(sandbox.invoke({}))
    assert second["registered"] == 200
    assert second["shutdown_attempt"] == [403, {
        "errorMessage": "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension",
        "errorType": "Extension.InvalidEventType"}]
    assert first.request_id in second["events_seen"]
    extensions = [e["record"] for e in sandbox.telemetry if e["type"] == "platform.extension"]
    assert extensions == [{"name": "in-process", "state": "Ready", "events": ["INVOKE"]}]


def test_response_returns_before_extensions_finish(open_sandbox, make_layer):
    sandbox = open_sandbox("app.hello", layers=[make_layer(slow={"invoke_work_s": 0.3})])
    sandbox.invoke({"name": "warm"})
    responded = []
    result = sandbox.invoke({"name": "x"}, on_response=lambda r: responded.append(time.monotonic()))
    ended = time.monotonic()
    assert result.response_latency_ms < 150
    assert ended - responded[0] >= 0.25
    assert result.extension_overhead_ms >= 250
    assert result.duration_ms >= result.extension_overhead_ms
    report = [e for e in sandbox.telemetry if e["type"] == "platform.report"][-1]["record"]
    assert report["spans"][0]["name"] == "extensionOverhead"
    assert report["spans"][0]["durationMs"] >= 250


def test_an_extension_done_before_the_runtime_does_not_end_the_invoke(open_sandbox, make_layer):
    # The extension is back at /event/next at once; the handler sleeps 0.3 s: the invoke (and
    # its billed duration) ends with the runtime's next /next, not with the extension's.
    sandbox = open_sandbox("app.sleep", layers=[make_layer(quick={})])
    result = sandbox.invoke({"s": 0.3})
    assert result.status == "success"
    assert result.duration_ms >= 300
    assert result.extension_overhead_ms == 0
    report = [e for e in sandbox.telemetry if e["type"] == "platform.report"][-1]["record"]
    assert report["metrics"]["durationMs"] >= 300


def test_timeout_counts_extension_time_and_sends_shutdown_timeout(open_sandbox, make_layer,
                                                                   journal):
    layer = make_layer(slow={"invoke_work_s": 1.0, "shutdown_linger_s": 0})
    sandbox = open_sandbox("app.hello", layers=[layer], timeout_s=0.5)
    result = sandbox.invoke({"name": "x"})
    assert payload(result) == {"message": "hello x"}  # the caller had it already
    assert result.status == "timeout"
    assert journal.events("slow")[-1]["shutdownReason"] == "timeout"
    again = sandbox.invoke({"name": "y"})
    assert again.status == "timeout"  # still slow, but re-initialised: launched again
    assert len(journal.entries("start", "slow")) == 2


def test_extension_crash_resets_with_extension_crash(open_sandbox, make_layer, journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(bad={"crash_on_invoke": 4}),
                                                 make_layer(good={})])
    result = sandbox.invoke({"name": "x"})
    assert result.status == "error" and result.error_type == "Extension.Crash"
    assert journal.events("good")[-1]["shutdownReason"] == "failure"
    assert len(journal.entries("start", "bad")) == 1
    sandbox.invoke({"name": "y"})
    assert len(journal.entries("start", "bad")) == 2


def test_extension_init_error_fails_init(open_sandbox, make_layer, journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(bad={"init_error": "Extension.Nope"})])
    result = sandbox.invoke({"name": "x"})
    assert journal.entries("init_error", "bad")[0]["status"] == 202
    assert journal.entries("init_error", "bad")[0]["body"] == '{"status":"OK"}'
    assert payload(result)["errorType"] == "Extension.InitError"
    done = [e["record"] for e in sandbox.telemetry if e["type"] == "platform.initRuntimeDone"]
    assert done[0] == {"initializationType": "on-demand", "phase": "init", "status": "error",
                       "errorType": "Extension.InitError"}


def test_disable_file_turns_extensions_off(open_sandbox, make_layer, journal):
    layer = make_layer(ext={})
    (layer / "disable-extensions-jwigqn8j").write_text("")
    open_sandbox("app.hello", layers=[layer]).invoke({"name": "x"})
    assert journal.entries() == []


def test_init_order_follows_rapid(open_sandbox, make_layer):
    sandbox = open_sandbox("app.hello", layers=[make_layer(ext={})])
    sandbox.invoke({"name": "x"})
    platform = [t for t in telemetry_types(sandbox.telemetry) if t.startswith("platform.")]
    assert platform[:4] == ["platform.initStart", "platform.initRuntimeDone",
                            "platform.extension", "platform.initReport"]
    lines = [line.text for line in sandbox.logs if line.source == "platform"]
    assert lines[1] == "EXTENSION\tName: ext\tState: Ready\tEvents: [INVOKE,SHUTDOWN]"


def test_renamed_external_is_internal_and_blocks_init(open_sandbox, make_layer):
    layer = make_layer(ext={"register_name": "other", "events": ["INVOKE"]})
    sandbox = open_sandbox("app.hello", layers=[layer], init_timeout_s=0.5, timeout_s=0.5)
    result = sandbox.invoke({"name": "x"})
    assert result.status == "timeout"
    reports = [e["record"] for e in sandbox.telemetry if e["type"] == "platform.initReport"]
    assert [r["status"] for r in reports] == ["timeout", "timeout"]


def test_an_extension_that_cannot_start_is_a_launch_error(open_sandbox, tmp_path):
    layer = tmp_path / "layer"
    (layer / "extensions").mkdir(parents=True)
    (layer / "extensions" / "not-executable").write_text("#!/bin/sh\n")
    result = open_sandbox("app.hello", layers=[layer]).invoke({"name": "x"})
    assert result.error_type == "Extension.LaunchError"
    assert payload(result)["errorType"] == "Extension.LaunchError"


def test_an_extension_exiting_during_init_fails_it(open_sandbox, tmp_path):
    layer = tmp_path / "layer"
    (layer / "extensions").mkdir(parents=True)
    (layer / "extensions" / "quitter").write_text("#!/bin/sh\nexit 5\n")
    (layer / "extensions" / "quitter").chmod(0o755)
    result = open_sandbox("app.hello", layers=[layer]).invoke({"name": "x"})
    assert result.error_type == "Extension.Crash"
    assert payload(result)["errorMessage"].endswith("exit status 5")


def test_exit_error_during_an_invoke_resets_with_extension_exit_error(open_sandbox, make_layer,
                                                                      journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(quitter={"exit_error_on_invoke": True})])
    result = sandbox.invoke({"name": "x"})
    assert journal.entries("exit_error", "quitter")[0]["status"] == 202
    assert result.status == "error" and result.error_type == "Extension.ExitError"
    assert payload(result) == {"message": "hello x"} or result.function_error == "Unhandled"
