"""End to end on Lambda Managed Instances (the sandbox's LMI mode, 4 forked workers),
invocations sent 8 at a time, each making a known, distinct set of calls (some slow, some
failing, some from a helper thread, some ending in a handler error), give one recap each,
shipped while the environment runs, holding exactly that invocation's calls."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_support import layer_env, recaps_in, sandbox_for

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult, Sandbox

pytestmark = pytest.mark.e2e

WORKERS = 4
IN_FLIGHT = 8


def planned_event(n: int) -> dict[str, Any]:
    """Invocation n's calls: each carries `inv=n`, so a call in the wrong recap shows."""
    calls = [f"/fast?inv={n}&i={i}" for i in range(1 + n % 3)]
    if n % 3 == 0:
        calls.append(f"/slow?ms={40 + 10 * (n % 5)}&inv={n}")
    if n % 4 == 1:
        calls.append(f"/fail?inv={n}")
    if n % 10 == 7:
        calls.append(f"/drop?inv={n}")
    return {"n": n, "calls": calls, "threaded": n % 6 == 5, "raise": n % 7 == 3,
            "library": "urllib" if n % 2 else "requests"}


def _called(recap: dict[str, Any]) -> Counter[str]:
    """The recap's calls as path?query (what the function asked for)."""
    found: Counter[str] = Counter()
    for call in recap["calls"]:
        url = urlsplit(call["url"])
        found[f"{url.path}?{url.query}"] += 1
    return found


def _invoke_all(sandbox: Sandbox, count: int) -> list[tuple[int, InvokeResult]]:
    with ThreadPoolExecutor(IN_FLIGHT) as callers:
        results = callers.map(lambda n: (n, sandbox.invoke(planned_event(n))), range(count))
        return list(results)


def _wait_for_recaps(sink: Path, count: int, within: float,
                     phase: str = "invoke") -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        recaps = [recap for recap in recaps_in(sink) if recap["phase"] == phase]
        if len(recaps) >= count or time.monotonic() > deadline:
            return recaps


def _check_recaps(count: int, layer_zip: Path, upstream: UpstreamServer,
                  tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    # Memory is the RSS of the whole environment: five interpreters with requests loaded.
    with sandbox_for("managed", layer_zip, env, timeout_s=10, memory_mb=2048,
                     max_concurrency=WORKERS) as sandbox:
        invoked = _invoke_all(sandbox, count)
        # Shipped as each invocation completes, not at SHUTDOWN: all there while it runs.
        while_running = _wait_for_recaps(sink, count, within=5.0)
    everything = recaps_in(sink)
    recaps = [recap for recap in everything if recap["phase"] == "invoke"]

    assert len(while_running) == count
    assert len(recaps) == len(everything)  # the workers' inits made no calls: no init recap
    by_id = {recap["requestId"]: recap for recap in recaps}
    assert len(recaps) == len(by_id) == count  # one recap per invocation, none twice
    pids = set()
    for n, result in invoked:
        plan = planned_event(n)
        recap = by_id[result.request_id]
        assert _called(recap) == Counter(plan["calls"]), f"invocation {n}"
        assert recap["status"] == ("error" if plan["raise"] else "success"), f"invocation {n}"
        assert recap["dropped"]["count"] == 0
        if not plan["raise"]:
            pids.add(json.loads(result.payload)["pid"])
    assert len(pids) == WORKERS  # every forked worker served some


def test_every_recap_holds_exactly_its_own_calls(layer_zip: Path, upstream: UpstreamServer,
                                                 tmp_path: Path) -> None:
    _check_recaps(24, layer_zip, upstream, tmp_path)


def test_two_hundred_invocations_eight_at_a_time(layer_zip: Path, upstream: UpstreamServer,
                                                 tmp_path: Path) -> None:
    _check_recaps(200, layer_zip, upstream, tmp_path)


def _lmi_sandbox(layer_zip: Path, env: dict[str, str], **options: Any) -> Sandbox:
    settings: dict[str, Any] = {"timeout_s": 10, "memory_mb": 2048, "max_concurrency": 2}
    settings.update(options)
    return sandbox_for("managed", layer_zip, env, **settings)


def test_a_timeout_ships_a_partial_recap_while_others_go_on(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with _lmi_sandbox(layer_zip, env, timeout_s=1.0) as sandbox:
        hanging = sandbox.invoke_async({"n": 1, "calls": ["/fast?inv=1", "/slow?ms=3000&inv=1"]})
        quick = sandbox.invoke({"n": 2, "calls": ["/fast?inv=2"]})
        timed_out = hanging.result(timeout=30)
        by_id = {recap["requestId"]: recap for recap in _wait_for_recaps(sink, 2, within=5.0)}
    assert timed_out.status == "timeout" and quick.ok
    partial = by_id[timed_out.request_id]
    assert partial["status"] == "timeout"
    done, hanging_call = partial["calls"]
    assert (done["path"], done["status"], done.get("inFlight")) == ("/fast", 200, None)
    assert (hanging_call["path"], hanging_call["inFlight"]) == ("/slow", True)
    assert _called(by_id[quick.request_id]) == Counter(["/fast?inv=2"])


def test_the_extension_registers_for_shutdown_only(layer_zip: Path, upstream: UpstreamServer,
                                                   tmp_path: Path) -> None:
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{tmp_path / 'r'}")
    with _lmi_sandbox(layer_zip, env) as sandbox:
        assert sandbox.invoke({"n": 0, "calls": []}).ok
        extension = [e["record"] for e in sandbox.telemetry if e["type"] == "platform.extension"]
    assert extension == [{"name": "httprecap", "state": "Ready", "events": ["SHUTDOWN"]}]


def test_without_the_wrapper_each_invocation_still_gets_a_recap(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    del env["AWS_LAMBDA_EXEC_WRAPPER"]
    with _lmi_sandbox(layer_zip, env) as sandbox:
        ids = {sandbox.invoke({"n": n, "calls": []}).request_id for n in range(3)}
        # platform.report is what says each is over: no hand-off comes without the wrapper.
        recaps = _wait_for_recaps(sink, 3, within=5.0)
    assert {recap["requestId"] for recap in recaps} == ids
    assert all(recap["status"] == "success" and recap["calls"] == [] for recap in recaps)
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper" in recaps[0]["hint"]


def test_every_workers_init_calls_are_in_an_init_recap(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}",
                    INIT_CALL="/fast?phase=init",
                    SLOW_INIT_MARKER=str(tmp_path / "slow-init"))
    with _lmi_sandbox(layer_zip, env, max_concurrency=WORKERS) as sandbox:
        _invoke_all(sandbox, 16)
        # Each ships when its worker's init ends (the slow one's after others served), not
        # at SHUTDOWN.
        while_running = _wait_for_recaps(sink, WORKERS, within=5.0, phase="init")
    recaps = recaps_in(sink)
    assert len(while_running) == WORKERS
    init_calls = [call for recap in recaps if recap["phase"] == "init" for call in recap["calls"]]
    assert len(init_calls) == WORKERS
    assert all(recap["dropped"]["count"] == 0 for recap in recaps)
    # One init recap per worker, named for it: `init:<pid>`, holding that worker's call.
    for recap in while_running:
        (call,) = recap["calls"]
        assert recap["requestId"] == f"init:{parse_qs(urlsplit(call['url']).query)['pid'][0]}"
        assert recap["status"] == "success"
