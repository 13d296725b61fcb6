"""The handler fails in every way Lambda knows, one after the other in one environment, each
time after calls from three threads and with one call still hanging: it raises, times out
inside the slow call, calls `os._exit`, or is killed for exhausting its memory. Each gives a
recap with the right status, every call that completed, and the hanging call in flight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rel_support import Figures, invoke_recaps, layer_env, recaps_in, sandbox_for

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult

pytestmark = pytest.mark.e2e

CALLS = 6
HANG_MS = 20_000
CASES: dict[str, dict[str, Any]] = {
    "raise": {"mode": "raise"},
    "timeout": {"hang_ms": HANG_MS},
    "exit": {"hang_ms": HANG_MS, "mode": "exit"},
    "oom": {"hang_ms": HANG_MS, "mode": "oom"},
}
# (platform.report status the caller sees, the recap's status)
EXPECTED = {"raise": ("error", "error"), "timeout": ("timeout", "timeout"),
            "exit": ("error", "failure"), "oom": ("error", "failure")}


@pytest.fixture(scope="module")
def run(layer_zip: Path, upstream: UpstreamServer,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sink = tmp_path_factory.mktemp("handler-faults") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    results: dict[str, InvokeResult] = {}
    with sandbox_for("work", [layer_zip], env, timeout_s=3, memory_mb=256) as sandbox:
        for name, extra in CASES.items():
            event = {"calls": CALLS, "threads": 3, "tag": f"case={name}", **extra}
            results[name] = sandbox.invoke(event)
            # Re-initialised after a reset (and warm again before the next case's deadline).
            results[f"after-{name}"] = sandbox.invoke({"calls": CALLS, "tag": f"after={name}"})
    return {"results": results, "recaps": invoke_recaps(recaps_in(sink))}


def _completed(recap: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for call in recap["calls"] if not call.get("inFlight")]


def _in_flight(recap: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for call in recap["calls"] if call.get("inFlight")]


@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_handler_gets_a_recap_with_its_status_and_completed_calls(
        case: str, run: dict[str, Any], figures: Figures) -> None:
    result: InvokeResult = run["results"][case]
    recap = run["recaps"][result.request_id]
    completed = _completed(recap)
    caller_status, recap_status = EXPECTED[case]
    figures.record(f"handler-{case}", callerStatus=result.status, recapStatus=recap["status"],
                   completedCalls=len(completed), plannedCalls=CALLS,
                   inFlight=len(_in_flight(recap)), errorType=result.error_type,
                   durationMs=round(result.duration_ms, 1))
    assert result.status == caller_status
    assert recap["status"] == recap_status
    assert sorted(call["url"].rsplit("i=", 1)[1] for call in completed) == \
        [str(i) for i in range(CALLS)]
    assert all(f"case={case}" in call["url"] and call["status"] == 200 for call in completed)
    assert recap["dropped"]["count"] == 0


@pytest.mark.parametrize("case", ["timeout", "exit", "oom"])
def test_the_call_hanging_when_the_runtime_ended_is_named_in_flight(
        case: str, run: dict[str, Any]) -> None:
    recap = run["recaps"][run["results"][case].request_id]
    (hanging,) = _in_flight(recap)
    assert hanging["path"] == "/slow" and "hanging=1" in hanging["url"]
    assert hanging["status"] is None


def test_memory_exhaustion_was_the_platforms_kill(run: dict[str, Any]) -> None:
    assert run["results"]["oom"].error_type == "Runtime.ExitError"
    assert b"signal: killed" in run["results"]["oom"].payload


@pytest.mark.parametrize("case", list(CASES))
def test_the_next_invocation_is_served_and_recapped_in_full(case: str,
                                                             run: dict[str, Any]) -> None:
    result = run["results"][f"after-{case}"]
    assert result.ok
    recap = run["recaps"][result.request_id]
    assert len(recap["calls"]) == CALLS and recap["dropped"]["count"] == 0
