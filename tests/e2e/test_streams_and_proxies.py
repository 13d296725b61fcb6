"""End to end: bodies read after their call returned, and a forward proxy, through the built
layer in the sandbox. A body broken midway shows its error and the bytes that came (urllib.request,
aiohttp); a response left unread at the handler's return is still in its invocation's recap; a
urllib.request redirect is one call; a call through a proxy names its target, and the proxy
without its credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_support import layer_env, recaps_in, sandbox_for
from truncating_server import SENT, TruncatingServer
from wire_support import WireProxy

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult

pytestmark = pytest.mark.e2e

INVOCATIONS = ({"n": 0}, {"n": 1})
SECRET = "pr0xy-s3cret"


@pytest.fixture(scope="module")
def run(layer_zip: Path, upstream: UpstreamServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sink = tmp_path_factory.mktemp("recaps") / "recaps.jsonl"
    with TruncatingServer() as truncating, WireProxy() as proxy:
        env = layer_env(UPSTREAM_URL=upstream.url, TRUNCATING_URL=truncating.url,
                        PROXY_URL=f"http://user:{SECRET}@127.0.0.1:{proxy.port}",
                        HTTPRECAP_SINKS=f"file://{sink}")
        with sandbox_for("streams", layer_zip, env, timeout_s=20) as sandbox:
            results: list[InvokeResult] = [sandbox.invoke(event) for event in INVOCATIONS]
            yield {"results": results, "recaps": recaps_in(sink), "sink": sink,
                   "proxy": f"127.0.0.1:{proxy.port}", "forwarded": proxy.log.all()}


def _by_via(recap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    calls: dict[str, dict[str, Any]] = {}
    for call in recap["calls"]:
        via = parse_qs(urlsplit(call["url"]).query).get("via", ["?"])[0]
        assert via not in calls, f"two calls for {via}"
        calls[via] = call
    return calls


def _invoke_recaps(run: dict[str, Any]) -> list[dict[str, Any]]:
    by_id = {r["requestId"]: r for r in run["recaps"] if r["phase"] == "invoke"}
    return [by_id[result.request_id] for result in run["results"]]


def test_the_handler_saw_the_bodies_break(run: dict[str, Any]) -> None:
    for result in run["results"]:
        assert result.ok, result.payload
        assert json.loads(result.payload) == {
            "urllib-broken": "IncompleteRead", "aiohttp-broken": "ClientPayloadError",
            "proxy": 200, "redirect": 200, "unread": 200}


def test_each_recap_holds_its_calls_once(run: dict[str, Any]) -> None:
    for n, recap in enumerate(_invoke_recaps(run)):
        calls = _by_via(recap)
        assert sorted(calls) == ["aiohttp-broken", "proxy", "redirect", "unread",
                                 "urllib-broken"]
        assert all(f"inv={n}" in call["url"] for call in calls.values())
        assert recap["dropped"]["count"] == 0


def test_a_body_broken_midway_is_its_call_s_error(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run):
        calls = _by_via(recap)
        for via, error in (("urllib-broken", "IncompleteRead"),
                           ("aiohttp-broken", "ClientPayloadError")):
            call = calls[via]
            assert (call["status"], call["bytesReceived"]) == (200, SENT), call
            assert call["error"]["type"] == error
        assert recap["summary"]["errors"] == 2


def test_a_response_left_unread_is_in_its_invocation_s_recap(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run):
        unread = _by_via(recap)["unread"]
        assert (unread["status"], unread["error"]) == (200, None)
        assert "inFlight" not in unread


def test_a_urllib_request_redirect_is_one_call(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run):
        redirect = _by_via(recap)["redirect"]
        assert (redirect["library"], redirect["path"], redirect["status"]) == (
            "http.client", "/redirect", 200)
        assert [(a["status"], urlsplit(a["url"]).path) for a in redirect["attempts"]] == [
            (302, "/redirect"), (200, "/fast")]


def test_a_call_through_a_proxy_names_its_target(run: dict[str, Any],
                                                 upstream: UpstreamServer) -> None:
    assert [urlsplit(e.target).query.rsplit("&", 1)[-1] for e in run["forwarded"]] == [
        "via=proxy"] * len(INVOCATIONS)
    target = urlsplit(upstream.url)
    for recap in _invoke_recaps(run):
        call = _by_via(recap)["proxy"]
        assert (call["host"], call["port"], call["path"]) == (
            target.hostname, target.port, "/fast")
        assert call["proxy"] == run["proxy"]
    assert SECRET not in run["sink"].read_text()
