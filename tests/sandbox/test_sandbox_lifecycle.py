"""Freeze, shutdown budget, and no process outliving the sandbox (even when it is SIGKILLed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sandbox_support import FUNCTIONS, payload


def _ticks(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie still answers kill(0): it is dead once its state says so.
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_background_threads_stop_while_frozen(open_sandbox, tmp_path):
    ticks = tmp_path / "ticks"
    sandbox = open_sandbox("app.background")
    sandbox.invoke({"file": str(ticks)})
    time.sleep(0.05)
    frozen_at = _ticks(ticks)
    time.sleep(0.3)
    assert _ticks(ticks) == frozen_at
    sandbox.invoke({"file": str(tmp_path / "other")})  # thawed during this invoke
    time.sleep(0.05)
    assert _ticks(ticks) >= frozen_at


def test_without_freeze_background_threads_keep_running(open_sandbox, tmp_path):
    ticks = tmp_path / "ticks"
    sandbox = open_sandbox("app.background", freeze=False)
    sandbox.invoke({"file": str(ticks)})
    time.sleep(0.05)
    before = _ticks(ticks)
    time.sleep(0.3)
    assert _ticks(ticks) > before + 5


def test_an_extension_ignoring_shutdown_is_killed_at_the_budget(open_sandbox, make_layer,
                                                                journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(stubborn={"ignore_shutdown": True})])
    sandbox.invoke({"name": "x"})
    pid = journal.entries("start", "stubborn")[0]["pid"]
    started = time.monotonic()
    sandbox.shutdown()
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed < 4
    assert _gone(pid, 1)


def test_unsubscribed_extension_is_killed_without_shutdown(open_sandbox, make_layer, journal):
    sandbox = open_sandbox("app.hello", layers=[make_layer(quiet={"events": ["INVOKE"]})])
    sandbox.invoke({"name": "x"})
    started = time.monotonic()
    sandbox.shutdown()
    assert time.monotonic() - started < 1.5
    assert all(event["eventType"] == "INVOKE" for event in journal.events("quiet"))


SURVIVOR_SCRIPT = """
import json, sys, time
from pathlib import Path
from httprecap.sandbox import Sandbox, FunctionConfig
box = Sandbox(FunctionConfig(code_dir=Path(sys.argv[1]), handler="app.inspect",
                             layers=[Path(sys.argv[2])]))
box.start()
result = box.invoke({})
print(json.loads(result.payload)["pid"], flush=True)
time.sleep(60)
"""


def test_children_die_when_the_sandbox_is_sigkilled(make_layer, journal):
    layer = make_layer(ext={})
    owner = subprocess.Popen([sys.executable, "-c", SURVIVOR_SCRIPT, str(FUNCTIONS), str(layer)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        runtime_pid = int(owner.stdout.readline())
        extension_pid = journal.entries("start", "ext")[0]["pid"]
    finally:
        owner.kill()
        owner.wait()
    assert _gone(runtime_pid, 2) and _gone(extension_pid, 2)


@pytest.mark.parametrize("freeze", [True, False])
def test_sandbox_exit_leaves_nothing_running(open_sandbox, make_layer, journal, freeze):
    sandbox = open_sandbox("app.inspect", layers=[make_layer(ext={})], freeze=freeze)
    runtime_pid = payload(sandbox.invoke({}))["pid"]
    sandbox.shutdown()
    assert _gone(runtime_pid, 1)
    assert _gone(journal.entries("start", "ext")[0]["pid"], 1)
    assert json.loads(journal.entries("event", "ext")[-1]["body"])["eventType"] == "SHUTDOWN"
