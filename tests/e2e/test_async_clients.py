"""End to end: an async handler (asyncio.run in the sync handler, or an event loop kept
across invocations) gathering httpx and aiohttp calls, through the built layer in the sandbox:
each recap holds exactly its invocation's calls, with hops as attempts and failures named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_support import layer_env, recaps_in, sandbox_for

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult

pytestmark = pytest.mark.e2e

# (event, how the handler ran its async body)
INVOCATIONS = ({"n": 0}, {"n": 1, "keep_loop": True}, {"n": 2, "keep_loop": True}, {"n": 3})
EXPECTED = sorted([
    ("httpx", "/slow", "httpx", 200), ("httpx", "/slow", "httpx", 200),
    ("httpx", "/slow", "httpx", 200),
    ("aiohttp", "/slow", "aiohttp", 200), ("aiohttp", "/slow", "aiohttp", 200),
    ("aiohttp", "/slow", "aiohttp", 200),
    ("httpx", "/redirect", "httpx-redirect", 200),
    ("aiohttp", "/redirect", "aiohttp-redirect", 200),
    ("aiohttp", "/drop", "aiohttp-drop", None),
])


@pytest.fixture(scope="module")
def run(layer_zip: Path, upstream: UpstreamServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sink = tmp_path_factory.mktemp("recaps") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    with sandbox_for("asyncapp", layer_zip, env, timeout_s=20) as sandbox:
        results: list[InvokeResult] = [sandbox.invoke(event) for event in INVOCATIONS]
        yield {"results": results, "recaps": recaps_in(sink)}


def _invoke_recaps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["requestId"]: r for r in run["recaps"] if r["phase"] == "invoke"}


def _via(call: dict[str, Any]) -> str:
    return parse_qs(urlsplit(call["url"]).query).get("via", ["?"])[0]


def _signature(call: dict[str, Any]) -> tuple[str, str, str, int | None]:
    return (call["library"], call["path"], _via(call), call["status"])


def test_every_invocation_succeeds(run: dict[str, Any]) -> None:
    for result in run["results"]:
        assert result.ok, result.payload


def test_each_recap_holds_exactly_its_invocations_calls(run: dict[str, Any]) -> None:
    recaps = _invoke_recaps(run)
    assert len(recaps) == len(INVOCATIONS)
    for event, result in zip(INVOCATIONS, run["results"], strict=True):
        recap = recaps[result.request_id]
        assert sorted(_signature(call) for call in recap["calls"]) == EXPECTED
        assert all(f"inv={event['n']}" in call["url"] for call in recap["calls"])
        assert recap["summary"]["count"] == len(EXPECTED)
        assert recap["status"] == "success"


def test_redirect_hops_are_attempts_of_one_call(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run).values():
        redirects = [c for c in recap["calls"] if c["path"] == "/redirect"]
        assert len(redirects) == 2
        for call in redirects:
            assert [a["status"] for a in call["attempts"]] == [302, 200]
            assert urlsplit(call["attempts"][1]["url"]).path == "/fast"


def test_dropped_connection_names_the_error_and_aiohttp_s_retry(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run).values():
        (dropped,) = [c for c in recap["calls"] if c["path"] == "/drop"]
        assert dropped["error"]["type"] == "ServerDisconnectedError"
        assert [a["error"]["type"] for a in dropped["attempts"]] == \
            ["ServerDisconnectedError"] * 2


def test_module_level_call_lands_in_the_init_recap(run: dict[str, Any]) -> None:
    (init,) = [r for r in run["recaps"] if r["phase"] == "init"]
    assert [(c["library"], c["path"]) for c in init["calls"]] == [("httpx", "/fast")]


def test_handler_saw_what_the_recap_says(run: dict[str, Any]) -> None:
    for result in run["results"]:
        payload = json.loads(result.payload)
        assert payload["requestId"] == result.request_id
        assert payload["statuses"] == [200] * 8 + ["ServerDisconnectedError"]
