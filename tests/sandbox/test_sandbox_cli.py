"""`httprecap run` and `httprecap serve` as a user runs them: real commands, real signals."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sandbox_support import FUNCTIONS, free_port
from test_sandbox_lifecycle import _gone

ROOT = Path(__file__).resolve().parents[2]
HTTPRECAP = [sys.executable, "-m", "httprecap.cli.main"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HTTPRECAP, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, check=False)


def test_run_prints_the_payload_and_the_log_lines():
    done = _run("run", "--code", "examples/hello", "--handler", "app.handler",
                "--event", '{"name":"x"}')
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"message": "hello x"}\n'
    lines = done.stderr.splitlines()
    assert lines[0].startswith("INIT_START ")
    assert lines[1].startswith("START RequestId: ")
    assert lines[2] == "greeting 'x'"
    assert lines[3].startswith("END RequestId: ") and lines[4].startswith("REPORT RequestId: ")


def test_run_repeat_reuses_the_warm_environment(tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"name": "file"}')
    done = _run("run", "--code", "examples/hello", "--handler", "app.handler",
                "--event", f"@{event}", "--repeat", "2")
    assert done.stdout.splitlines() == ['{"message": "hello file"}'] * 2
    reports = [line for line in done.stderr.splitlines() if line.startswith("REPORT")]
    assert ["Init Duration" in report for report in reports] == [True, False]


@pytest.mark.parametrize(("args", "message"), [
    (["--code", "no/such/dir", "--handler", "app.handler"], "code directory not found"),
    (["--code", "examples/hello", "--handler", "app.handler", "--layer", "no.zip"],
     "layer not found"),
    (["--code", "examples/hello", "--handler", "app.handler", "--event", "{nope"],
     "the event is not JSON"),
    (["--code", "examples/hello", "--handler", "app.handler", "--env", "NOEQUALS"],
     "--env expects KEY=VALUE"),
])
def test_run_rejects_bad_input_in_one_line(args, message):
    done = _run("run", *args)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("httprecap: error: ")
    assert message in done.stderr


def test_run_reports_a_handler_that_does_not_import():
    done = _run("run", "--code", "examples/hello", "--handler", "missing.handler")
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorType"] == "Runtime.ImportModuleError"
    assert done.stderr.splitlines()[-1].startswith(
        "httprecap: error: 1 of 1 invocation(s) failed; first: Runtime.ImportModuleError: ")


# Runs the command with SIGINT at its default, so Ctrl-C reaches it as from a terminal even when
# the tests run in a background job (whose processes start with SIGINT ignored, kept by Python).
INTERRUPTIBLE = [sys.executable, "-c", "import os, signal, sys; "
                 "signal.signal(signal.SIGINT, signal.SIG_DFL); "
                 "os.execv(sys.argv[1], sys.argv[1:])"]


def _ended(command: subprocess.Popen[str], timeout: float = 20) -> int:
    """The command's exit code; killed (and the test failed) if it does not end in time."""
    try:
        return command.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        command.kill()
        command.wait()
        raise


def test_ctrl_c_during_an_invoke_leaves_nothing_running(make_layer, journal):
    layer = make_layer(ext={})
    command = subprocess.Popen(
        [*INTERRUPTIBLE, *HTTPRECAP, "run", "--code", str(FUNCTIONS), "--handler", "app.sleep",
         "--timeout", "60", "--event", '{"s": 30}', "--layer", str(layer)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert command.stderr is not None
    runtime_pid = 0
    for line in command.stderr:
        if line.startswith("sleeping "):
            runtime_pid = int(line.split()[1])
            break
    command.send_signal(signal.SIGINT)
    assert _ended(command) == 130
    assert _gone(runtime_pid, 1)
    assert _gone(journal.entries("start", "ext")[0]["pid"], 1)
    assert journal.events("ext")[-1]["eventType"] == "SHUTDOWN"


def _post(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/2015-03-31/functions/function/invocations", body)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def _wait_listening(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def test_serve_answers_invocations_and_stops_on_sigterm(make_layer, journal):
    port = free_port()
    server = subprocess.Popen(
        [*INTERRUPTIBLE, *HTTPRECAP, "serve", "--code", str(FUNCTIONS), "--handler", "app.hello",
         "--port", str(port), "--layer", str(make_layer(ext={}))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port)
        status, headers, body = _post(port, b'{"name": "curl"}')
        assert (status, json.loads(body)) == (200, {"message": "hello curl"})
        assert "X-Amz-Function-Error" not in headers
        assert _post(port, b'{"name": "again"}')[2] == b'{"message": "hello again"}'
    finally:
        server.send_signal(signal.SIGTERM)
        assert _ended(server) == 0
    assert journal.events("ext")[-1]["shutdownReason"] == "spindown"
    assert _gone(journal.entries("start", "ext")[0]["pid"], 1)


def test_serve_marks_function_errors_like_the_invoke_api():
    port = free_port()
    server = subprocess.Popen(
        [*INTERRUPTIBLE, *HTTPRECAP, "serve", "--code", str(FUNCTIONS), "--handler", "app.boom",
         "--port",
         str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        _wait_listening(port)
        status, headers, body = _post(port, b"{}")
        assert status == 200 and headers["X-Amz-Function-Error"] == "Unhandled"
        assert json.loads(body)["errorType"] == "ValueError"
    finally:
        os.kill(server.pid, signal.SIGINT)
        assert _ended(server) == 0


def test_serve_refuses_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run("serve", "--code", "examples/hello", "--handler", "app.handler",
                    "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"httprecap: error: cannot listen on 127.0.0.1:{port}: "
                                   "Address already in use")
