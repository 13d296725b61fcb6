"""The runtime dies mid-invocation (`os._exit` in the handler, after a call) where Lambda has
no Telemetry API (AWS SAM local, the runtime interface emulator answer its subscription with
202 Telemetry.NotSupported). Nothing but the function process's closed connection tells the
extension: the recap must ship at once, as a failure naming the call, and the caller's error
must not wait for the function's timeout (Lambda answers once the extension is back in
/event/next)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from rel_support import Figures, invoke_recaps, layer_env, recaps_in, sandbox_for

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10
PROMPT_S = 1.0  # well inside the timeout (and the 2 s Lambda gives extensions at a reset)


@pytest.fixture(scope="module")
def run(layer_zip: Path, upstream: UpstreamServer,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sink = tmp_path_factory.mktemp("runtime-death") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("work", [layer_zip], env, timeout_s=TIMEOUT_S,
                     telemetry_supported=False) as sandbox:
        sandbox.invoke({"calls": 1, "tag": "warm"})  # the init is behind us
        started = time.monotonic()
        died = sandbox.invoke({"calls": 2, "mode": "exit", "tag": "dying"})
        answered_s = time.monotonic() - started
        after = sandbox.invoke({"calls": 1, "tag": "after"})
        started = time.monotonic()
        silent = sandbox.invoke({"mode": "exit"})  # dies before posting anything
        silent_s = time.monotonic() - started
    return {"died": died, "answered_s": answered_s, "after": after, "silent": silent,
            "silent_s": silent_s, "recaps": invoke_recaps(recaps_in(sink))}


def test_the_callers_error_comes_back_promptly(run: dict[str, Any], figures: Figures) -> None:
    died: InvokeResult = run["died"]
    figures.record("runtime-death-no-telemetry", answeredS=round(run["answered_s"], 3),
                   callerStatus=died.status, errorType=died.error_type)
    assert died.error_type == "Runtime.ExitError"
    assert run["answered_s"] < PROMPT_S


def test_the_recap_ships_at_once_as_a_failure_naming_the_calls(run: dict[str, Any]) -> None:
    recap = run["recaps"][run["died"].request_id]
    assert recap["status"] == "failure"
    assert recap["durationMs"] < PROMPT_S * 1000
    assert sorted(call["url"].rsplit("i=", 1)[1] for call in recap["calls"]) == ["0", "1"]
    assert all("dying" in call["url"] and call["status"] == 200 for call in recap["calls"])
    assert recap["dropped"]["count"] == 0


def test_the_next_invocation_is_served_and_recapped(run: dict[str, Any]) -> None:
    after: InvokeResult = run["after"]
    assert after.ok
    recap = run["recaps"][after.request_id]
    assert recap["status"] == "success" and recap["summary"]["count"] == 1


def test_a_runtime_that_dies_before_posting_anything_is_noticed_too(run: dict[str, Any]) -> None:
    recap = run["recaps"][run["silent"].request_id]
    assert recap["status"] == "failure" and recap["calls"] == []
    assert run["silent_s"] < PROMPT_S
