"""The run loop in the local Lambda sandbox: the real launcher started from a layer directory,
registered with the sandbox's Extensions API, subscribed to its Telemetry API, shipping one
recap per invocation before the next invocation starts.

The handler makes no HTTP calls. In `handoff` mode it plays the internal extension itself and
posts a batch (hello, one call, end) to the collector before it returns.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ext_support import Receiver
from layer_support import free_port

from httprecap.sandbox import FunctionConfig, Sandbox

ROOT = Path(__file__).resolve().parents[2]
HANDLER = '''
import json, os, socket, time

def _post(body):
    with socket.create_connection(("127.0.0.1", int(os.environ["HTTPRECAP_PORT"]))) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body)
                     + body)
        sock.recv(4096)

def handler(event, context):
    if event.get("hang"):  # a call that never finishes: announced by a `start` notice
        now = time.time_ns() // 1000
        notice = {"id": "h1", "requestId": context.aws_request_id, "startedAtUs": now,
                  "method": "GET", "host": "slow.example.com", "url": "http://slow/"}
        _post(json.dumps({"v": 1, "pid": os.getpid(), "seq": 1, "messages": [
            {"k": "hello", "pid": os.getpid()}, {"k": "start", "call": notice}]}).encode())
        time.sleep(event["hang"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("handoff"):
        now = time.time_ns() // 1000
        call = {"id": "c1", "requestId": context.aws_request_id, "startedAtUs": now - 900,
                "durationMs": 0.5, "method": "GET", "host": "example.com", "url": "http://x/",
                "status": 200}
        _post(json.dumps({"v": 1, "pid": os.getpid(), "seq": 1, "messages": [
            {"k": "hello", "pid": os.getpid()}, {"k": "call", "call": call},
            {"k": "end", "requestId": context.aws_request_id, "status": "success",
             "calls": 1, "startedAtUs": now - 1000, "durationMs": 1.0, "overheadUs": 5}]
        }).encode())
    if event.get("raise"):
        raise ValueError("boom")
    return {"ok": True}
'''


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layer directory shaped like the built one, pointing at the source folders."""
    root = tmp_path_factory.mktemp("layer")
    (root / "extensions").mkdir()
    launcher = root / "extensions" / "httprecap"
    shutil.copyfile(ROOT / "wrapper" / "httprecap-extension", launcher)
    launcher.chmod(0o755)
    package = root / "httprecap" / "lib" / "httprecap"
    package.mkdir(parents=True)
    for entry in (ROOT / "core").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for folder in ("external", "internal"):
        (package / folder).symlink_to(ROOT / folder)
    # A stand-in for the real wrapper (not part of this test): it only execs the runtime.
    wrapper = root / "httprecap-wrapper"
    wrapper.write_text('#!/bin/sh\nexec "$@"\n')
    wrapper.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    (folder / "app.py").write_text(HANDLER)
    return folder


def _config(code: Path, layer: Path, recaps: Path, **overrides: Any) -> FunctionConfig:
    env = {"HTTPRECAP_SINKS": f"file://{recaps},stdout", "HTTPRECAP_PORT": str(free_port()),
           "HTTPRECAP_TELEMETRY_PORT": str(free_port()), **overrides.pop("env", {})}
    return FunctionConfig(code_dir=code, handler="app.handler", layers=[layer], env=env,
                          function_name="orders-api", **overrides)


def _recaps(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def recaps(tmp_path: Path) -> Path:
    return tmp_path / "recaps.jsonl"


def _extension_lines(box: Sandbox) -> list[str]:
    return [line.text for line in box.logs if line.source == "extension"]


def test_registers_subscribes_and_ships_each_recap_before_the_next_invoke(
        code: Path, layer: Path, recaps: Path) -> None:
    with Sandbox(_config(code, layer, recaps)) as box:
        results = []
        for event in ({}, {"raise": True}, {}):
            results.append(box.invoke(event))
            # The invoke is over (the extension is back in /event/next): its recap is there.
            assert [r["requestId"] for r in _recaps(recaps)] == [
                result.request_id for result in results]
        telemetry = box.telemetry
        stdout = [line for line in _extension_lines(box) if line.startswith("{")]
    types = {(event["type"], json.dumps(event["record"], sort_keys=True)) for event in telemetry}
    extension = [json.loads(record) for kind, record in types if kind == "platform.extension"]
    assert {"name": "httprecap", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]} in [
        {**e, "events": sorted(e["events"])} for e in extension]
    subscribed = [json.loads(record) for kind, record in types
                  if kind == "platform.telemetrySubscription"]
    assert any(s["name"] == "httprecap" and s["types"] == ["platform"] for s in subscribed)
    written = _recaps(recaps)
    assert [r["status"] for r in written] == ["success", "error", "success"]
    assert {r["functionName"] for r in written} == {"orders-api"}
    assert all(r["calls"] == [] and r["type"] == "httprecap.recap" for r in written)
    assert [json.loads(line)["requestId"] for line in stdout] == [r["requestId"] for r in written]


def test_without_the_internal_extension_a_one_time_hint(
        code: Path, layer: Path, recaps: Path) -> None:
    with Sandbox(_config(code, layer, recaps)) as box:
        box.invoke({})
        box.invoke({})
        lines = _extension_lines(box)
    first, second = _recaps(recaps)
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper" in first["hint"]
    assert "hint" not in second
    assert sum("AWS_LAMBDA_EXEC_WRAPPER" in line and not line.startswith("{")
               for line in lines) == 1


def test_the_handoff_ships_without_waiting_for_telemetry(
        code: Path, layer: Path, recaps: Path) -> None:
    env = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper"}
    with Sandbox(_config(code, layer, recaps, telemetry_supported=False, env=env)) as box:
        results = [box.invoke({"handoff": True}) for _ in range(3)]
    written = _recaps(recaps)
    assert [r["requestId"] for r in written] == [r.request_id for r in results]
    for recap in written:
        assert recap["status"] == "success" and "hint" not in recap
        assert [c["id"] for c in recap["calls"]] == ["c1"]
        assert recap["overhead"]["functionUs"] == 5
    # Nothing waited for telemetry (there is none) or a timeout: the extension was quick.
    assert max(r.extension_overhead_ms for r in results) < 150


def test_a_silent_wrapper_costs_one_wait_under_relaxed_telemetry(
        code: Path, layer: Path, recaps: Path) -> None:
    # The wrapper variable is set, so the extension subscribes with Lambda's relaxed
    # buffering (a second), but this layer's stand-in wrapper never loads the internal
    # extension: the first invoke waits for runtimeDone and the hand-off timeout, later ones
    # ship at once instead of waiting up to a second for telemetry each.
    env = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper"}
    with Sandbox(_config(code, layer, recaps, env=env)) as box:
        results = [box.invoke({}) for _ in range(3)]
    written = _recaps(recaps)
    assert [r["requestId"] for r in written] == [r.request_id for r in results]
    assert "has not reported" in written[0]["hint"]
    assert 150 < results[0].extension_overhead_ms < 2500
    assert max(r.extension_overhead_ms for r in results[1:]) < 150


def test_spindown_flushes_the_retry_queue(code: Path, layer: Path, recaps: Path,
                                          receiver: Receiver) -> None:
    receiver.status = 503
    env = {"HTTPRECAP_SINKS": f"file://{recaps},{receiver.url}/recaps"}
    with Sandbox(_config(code, layer, recaps, env=env)) as box:
        results = [box.invoke({}) for _ in range(2)]
        assert receiver.bodies == []
        receiver.status = 200
    delivered = [r["requestId"] for body in receiver.bodies for r in json.loads(body)]
    assert delivered == [r.request_id for r in results]


def test_a_timeout_ships_a_timeout_recap(code: Path, layer: Path, recaps: Path) -> None:
    with Sandbox(_config(code, layer, recaps, timeout_s=1.0)) as box:
        result = box.invoke({"sleep": 3})
    assert result.status == "timeout"
    [recap] = _recaps(recaps)
    assert recap["requestId"] == result.request_id and recap["status"] == "timeout"


def test_a_timeout_inside_a_call_ships_it_in_flight(code: Path, layer: Path,
                                                    recaps: Path) -> None:
    env = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper"}
    with Sandbox(_config(code, layer, recaps, timeout_s=1.0, env=env)) as box:
        result = box.invoke({"hang": 3})
        lines = _extension_lines(box)
    assert result.status == "timeout"
    [recap] = _recaps(recaps)
    assert recap["status"] == "timeout" and recap["durationMs"] >= 900
    [hanging] = recap["calls"]
    assert hanging["id"] == "h1" and hanging["inFlight"] is True and hanging["status"] is None
    assert not [line for line in lines if line.startswith("[httprecap] error")]


@pytest.fixture
def taken_port() -> Iterator[int]:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def test_a_taken_collector_port_fails_init_through_init_error(
        code: Path, layer: Path, recaps: Path, taken_port: int) -> None:
    with Sandbox(_config(code, layer, recaps, env={"HTTPRECAP_PORT": str(taken_port)})) as box:
        result = box.invoke({})
        telemetry = box.telemetry
    assert not result.ok
    done = [e["record"] for e in telemetry if e["type"] == "platform.initRuntimeDone"]
    assert any(isinstance(r, dict) and r.get("status") != "success" for r in done)
