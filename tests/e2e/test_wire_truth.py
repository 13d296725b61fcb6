"""Wire truth end to end: for every client httprecap captures (requests, urllib3, http.client,
urllib.request, botocore, httpx sync and async, aiohttp), each call's recap says what really
crossed the wire, as logged by the loopback upstreams (HTTP, HTTPS, IPv6) and forward proxy
that received it: method, path, status, attempts (redirect hops, retries) and body sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from wire_truth_support import (
    FUNCTIONS,
    Case,
    WireRun,
    WireServers,
    aiohttp_cases,
    botocore_cases,
    check_no_stray_calls,
    check_wire_exact,
    httpx_cases,
    requests_cases,
    run_cases,
    stdlib_cases,
    urllib3_cases,
    wire_servers,
)

pytestmark = pytest.mark.e2e

CASES: list[Case] = [*requests_cases(), *urllib3_cases(), *stdlib_cases(), *botocore_cases(),
                     *httpx_cases("httpx"), *httpx_cases("httpx.async"), *aiohttp_cases()]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireServers]:
    yield from wire_servers(tmp_path_factory.mktemp("wire-cert"))


@pytest.fixture(scope="module")
def run(layer_zip: Path, servers: WireServers,
        tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    sink = tmp_path_factory.mktemp("wire-recaps") / "recaps.jsonl"
    return run_cases(layer_zip, FUNCTIONS / "wire", servers, CASES, sink)


def test_every_invocation_succeeds(run: WireRun) -> None:
    for invocation in run.invocations:
        assert invocation.ok, invocation.payload


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_recap_call_is_wire_exact(run: WireRun, servers: WireServers, case: Case) -> None:
    check_wire_exact(run, case, servers)


def test_recaps_hold_no_call_beyond_the_cases(run: WireRun) -> None:
    check_no_stray_calls(run)
