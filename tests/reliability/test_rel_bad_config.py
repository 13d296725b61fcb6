"""Bad configuration: malformed HTTPRECAP_* values, an unknown variable, unknown and unreachable
sinks. Each costs a warning at start (once, not per invocation), falls back to its default,
and leaves the function exactly as it is without the layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rel_support import (
    Figures,
    free_port,
    invoke_recaps,
    layer_env,
    recaps_in,
    recaps_in_logs,
    sandbox_for,
)

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult, Sandbox

pytestmark = pytest.mark.e2e

CALLS = 10
ROUNDS = 4
MALFORMED = {
    "HTTPRECAP_SHIP_BUDGET_MS": "fast",
    "HTTPRECAP_HANDOFF_TIMEOUT_MS": "-5",
    "HTTPRECAP_BUFFER_RECORDS": "1e9",
    "HTTPRECAP_MAX_CALLS_PER_RECAP": "0",
    "HTTPRECAP_RETRY_QUEUE": "",
    "HTTPRECAP_CAPTURE_HEADERS": "maybe",
    "HTTPRECAP_CAPTURE_BODIES": "2",
    "HTTPRECAP_BODY_MAX_BYTES": "lots",
    "HTTPRECAP_TELEMETRY_PORT": "9001",
    "HTTPRECAP_HTTP_HEADERS": "no-equals-sign",
    "HTTPRECAP_DISABLED": "perhaps",
    "HTTPRECAP_LOG_LEVEL": "chatty",
}


def _event(n: int) -> dict[str, Any]:
    return {"calls": CALLS, "tag": f"inv={n}"}


def _served(result: InvokeResult) -> tuple[bool, list[int], int]:
    payload = json.loads(result.payload)
    return result.ok, payload["statuses"], payload["count"]


def _lines(sandbox: Sandbox, needle: str) -> list[str]:
    return [f"{line.source}: {line.text}" for line in sandbox.logs if needle in line.text]


@pytest.fixture(scope="module")
def run(layer_zip: Path, upstream: UpstreamServer,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sink = tmp_path_factory.mktemp("bad-config") / "recaps.jsonl"
    unreachable = f"http://127.0.0.1:{free_port()}/recaps"
    env = layer_env(UPSTREAM_URL=upstream.url, **MALFORMED,
                    HTTPRECAP_SINKS=f"stdout,bogus://somewhere,file://{sink},{unreachable}",
                    HTTPRECAP_REDACT="valid_name,([unclosed",
                    HTTPRECAP_TYPO_SETTING="1")
    with sandbox_for("work", [], {"UPSTREAM_URL": upstream.url}) as plain:
        without = [plain.invoke(_event(n)) for n in range(ROUNDS)]
    with sandbox_for("work", [layer_zip], env, timeout_s=10) as sandbox:
        results = [sandbox.invoke(_event(n)) for n in range(ROUNDS)]
        stdout_recaps = recaps_in_logs(sandbox)
    return {"without": without, "results": results, "sandbox": sandbox,
            "file": invoke_recaps(recaps_in(sink)), "stdout": invoke_recaps(stdout_recaps),
            "unreachable": unreachable}


def test_the_function_is_served_as_without_the_layer(run: dict[str, Any]) -> None:
    assert [_served(r) for r in run["results"]] == [_served(r) for r in run["without"]]


def test_every_malformed_value_is_warned_about_once_at_start(run: dict[str, Any],
                                                              figures: Figures) -> None:
    sandbox: Sandbox = run["sandbox"]
    first_invocation_end = run["results"][0].logs[-1].time
    found = {name: _lines(sandbox, f"{name}=") for name in MALFORMED}
    figures.record("bad-config", invocations=ROUNDS, calls=ROUNDS * CALLS,
                   malformed=len(MALFORMED), warned=sum(bool(lines) for lines in found.values()),
                   warningLines=sum(len(lines) for lines in found.values()))
    for name, lines in found.items():
        assert lines, f"no warning for {name}"
        # one line per process that reads the settings (function, extension), never per call
        assert len(lines) <= 2, lines
    for line in sandbox.logs:
        if "HTTPRECAP_" in line.text and "ignored" in line.text:
            assert line.time <= first_invocation_end


def test_unknown_variables_sinks_and_patterns_are_named(run: dict[str, Any]) -> None:
    sandbox: Sandbox = run["sandbox"]
    assert _lines(sandbox, "HTTPRECAP_TYPO_SETTING is not an httprecap setting")
    assert _lines(sandbox, "'bogus://somewhere' ignored")
    assert _lines(sandbox, "'([unclosed' is not a valid regular expression")
    assert len(_lines(sandbox, f"sink {run['unreachable']} failed")) == 1


def test_the_defaults_take_over_and_recaps_ship(run: dict[str, Any]) -> None:
    ids = [result.request_id for result in run["results"]]
    for recaps in (run["file"], run["stdout"]):
        assert list(recaps) == ids
        assert all(len(recap["calls"]) == CALLS for recap in recaps.values())
        # capture stays off: "maybe" and "2" are not yes
        assert all("requestHeaders" not in call and "requestBody" not in call
                   for recap in recaps.values() for call in recap["calls"])
    for result in run["results"][1:]:
        assert result.extension_overhead_ms < 50 + 60  # the default ship budget, and margin


def test_disabled_layer_leaves_the_function_alone_and_ships_nothing(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path, figures: Figures) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_DISABLED="1",
                    HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("work", [layer_zip], env, timeout_s=10) as sandbox:
        results = [sandbox.invoke(_event(n)) for n in range(ROUNDS)]
    assert all(_served(r) == (True, [200], CALLS) for r in results)
    assert recaps_in(sink) == []
    assert all(r.extension_overhead_ms == 0.0 for r in results)  # registered SHUTDOWN only
    figures.record("disabled", invocations=ROUNDS, recaps=0,
                   extensionMsMax=max(r.extension_overhead_ms for r in results))
