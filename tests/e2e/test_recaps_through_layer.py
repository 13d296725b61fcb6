"""End to end: recaps shipped to stdout and a file at once, after each response, and
partial recaps with the right status when the function times out, raises or crashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import layer_env, recaps_in, recaps_in_logs, sandbox_for

from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e


def _paths(recap: dict[str, Any]) -> list[str]:
    return [call["path"] for call in recap["calls"]]


def _invoke_recaps(recaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [recap for recap in recaps if recap["phase"] == "invoke"]


def test_stdout_and_file_sinks_get_the_same_recaps(layer_zip: Path, upstream: UpstreamServer,
                                                    tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"stdout,file://{sink}")
    with sandbox_for("slow", layer_zip, env, timeout_s=5) as sandbox:
        ids = [sandbox.invoke({"ms": 10}).request_id for _ in range(3)]
        from_logs = _invoke_recaps(recaps_in_logs(sandbox))
    from_file = _invoke_recaps(recaps_in(sink))
    assert [recap["requestId"] for recap in from_file] == ids
    assert from_logs == from_file
    for recap in from_file:
        assert _paths(recap) == ["/fast", "/slow"]
        assert recap["status"] == "success"
        assert all(call["status"] == 200 for call in recap["calls"])


def test_timeout_ships_partial_recap_naming_the_hanging_call(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("slow", layer_zip, env, timeout_s=1.5) as sandbox:
        result = sandbox.invoke({"ms": 5000})
        (recap,) = _invoke_recaps(recaps_in(sink))
    assert result.status == "timeout"
    assert recap["requestId"] == result.request_id
    assert recap["status"] == "timeout"
    done, hanging = recap["calls"]
    assert (done["path"], done["status"], done.get("inFlight")) == ("/fast", 200, None)
    assert hanging["path"] == "/slow"
    assert hanging["inFlight"] is True


def test_handler_error_gives_error_status_with_completed_calls(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("slow", layer_zip, env, timeout_s=5) as sandbox:
        result = sandbox.invoke({"mode": "raise"})
        (recap,) = _invoke_recaps(recaps_in(sink))
    assert result.function_error == "Unhandled"
    assert recap["status"] == "error"
    assert _paths(recap) == ["/fast"]


def test_runtime_crash_gives_failure_status_with_completed_calls(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("slow", layer_zip, env, timeout_s=5) as sandbox:
        crashed = sandbox.invoke({"mode": "exit"})
        recovered = sandbox.invoke({"ms": 10})
        recaps = {recap["requestId"]: recap for recap in _invoke_recaps(recaps_in(sink))}
    assert crashed.status in ("failure", "error")
    assert recaps[crashed.request_id]["status"] == "failure"
    assert _paths(recaps[crashed.request_id]) == ["/fast"]
    assert recovered.ok
    assert _paths(recaps[recovered.request_id]) == ["/fast", "/slow"]


def test_without_the_wrapper_recaps_still_ship_with_a_hint(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    del env["AWS_LAMBDA_EXEC_WRAPPER"]
    with sandbox_for("slow", layer_zip, env, timeout_s=5) as sandbox:
        ids = [sandbox.invoke({"ms": 10}).request_id for _ in range(2)]
        recaps = _invoke_recaps(recaps_in(sink))
    assert [recap["requestId"] for recap in recaps] == ids
    assert all(recap["calls"] == [] for recap in recaps)
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper" in recaps[0]["hint"]
