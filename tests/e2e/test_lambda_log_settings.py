"""End to end: the recaps that reach the function's log under Lambda's logging configuration
(the sandbox plays LoggingConfig) and the context every recap carries for fleet queries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import layer_env, recaps_in, recaps_in_logs, sandbox_for

from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

# A quiet invocation, one with a failed call, one that raises, a quiet one again.
EVENTS = [{"steps": ["fast"]}, {"steps": ["fast", "missing"]},
          {"steps": ["fast"], "raise": True}, {"steps": ["fast"]}]


def _run(layer: Path, upstream: UpstreamServer, sink: Path, events: list[dict[str, Any]],
         pause_s: float = 0.0, **options: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Invoke `events`, `pause_s` apart; the request ids, and the recaps the stdout sink got
    into the log."""
    env = layer_env(UPSTREAM_URL=upstream.url, BUCKET="unused",
                    HTTPRECAP_SINKS=f"stdout,file://{sink}")
    ids = []
    with sandbox_for("fleet", layer, env, timeout_s=10, **options) as sandbox:
        for event in events:
            ids.append(sandbox.invoke(event).request_id)
            time.sleep(pause_s)
        logged = recaps_in_logs(sandbox)
    return ids, logged


def test_at_warn_in_json_format_only_the_error_recaps_reach_the_log(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    ids, logged = _run(layer_zip, upstream, sink, EVENTS, log_format="json",
                       application_log_level="warn")
    assert [recap["requestId"] for recap in logged] == ids[1:3]
    assert [recap["level"] for recap in logged] == ["WARN", "WARN"]
    assert [recap["status"] for recap in logged] == ["success", "error"]
    # The hidden cost: the quiet recaps were written, and Lambda dropped them.
    shipped = recaps_in(sink)
    assert [recap["requestId"] for recap in shipped] == ids
    assert [recap["level"] for recap in shipped] == ["INFO", "WARN", "WARN", "INFO"]


def test_in_text_format_every_recap_reaches_the_log_with_its_context(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    ids, logged = _run(layer_zip, upstream, tmp_path / "recaps.jsonl", EVENTS)
    assert [recap["requestId"] for recap in logged] == ids
    assert [recap["level"] for recap in logged] == ["INFO", "WARN", "WARN", "INFO"]
    recap = logged[0]
    assert recap["timestamp"] == recap["startedAt"]
    assert recap["functionArn"] == "arn:aws:lambda:us-east-1:012345678912:function:httprecap-fn"
    assert (recap["region"], recap["accountId"]) == ("us-east-1", "012345678912")
    assert recap["memorySizeMB"] == 128
    assert recap["architecture"] in ("x86_64", "arm64")
    assert recap["runtime"].startswith("python3.")
    assert "alias" not in recap and "tenantId" not in recap


def test_every_recap_of_a_tenant_isolated_function_names_its_tenant(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    # The function process names the tenant with each invocation's end, so even the first
    # recap, shipped at the hand-off before any telemetry arrives, has it.
    ids, logged = _run(layer_zip, upstream, tmp_path / "recaps.jsonl", EVENTS[:2],
                       tenant_id="tenant-a", memory_mb=256)
    assert [recap["requestId"] for recap in logged] == ids
    assert [recap.get("tenantId") for recap in logged] == ["tenant-a", "tenant-a"]
    assert logged[-1]["memorySizeMB"] == 256


