"""Wire truth end to end for `timeoutS` and `connection`: for each client (requests, urllib3,
http.client, botocore, httpx sync and async, aiohttp), two calls to one loopback upstream, on
one session or a session per call, with a known timeout (a number, a tuple, a client's
timeout object, none, the client's default). Each call's recap says the timeout its client
resolved, and whether it opened a connection, as the upstream saw it: a new TCP connection
accepted for the call, or the call on a kept-alive one (with `connectMs`, and `tlsMs` over
TLS where the client tells it apart)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wire_support import calls_tagged
from wire_truth_support import FUNCTIONS, Case, WireRun, WireServers, run_cases, wire_servers

pytestmark = pytest.mark.e2e

UNBOUNDED = None


@dataclass(frozen=True)
class Expected:
    """A case and the `timeoutS` its calls should carry."""

    case: Case
    timeout_s: float | None

    @property
    def id(self) -> str:
        options = self.case.options
        return f"{self.case.do}-{options['timeout']}-{options['session']}-{self.case.server}"


def _case(do: str, timeout: str, expected: float | None, session: str = "shared",
          server: str = "http") -> Expected:
    path = "/wire/{tag}/object.bin" if do == "botocore" else "/bytes?n=300"
    return Expected(Case(timeout, do, "HEAD" if do == "botocore" else "GET", path, server,
                         options={"timeout": timeout, "session": session}), expected)


EXPECTED = [
    # requests: `timeout=None` (its default) is unbounded; a tuple is (connect, read).
    _case("requests", "default", UNBOUNDED), _case("requests", "number", 5.0),
    _case("requests", "tuple", 7.0), _case("requests", "none", UNBOUNDED),
    _case("requests", "urllib3", 9.0), _case("requests", "number", 5.0, "fresh"),
    _case("requests", "number", 5.0, server="https"),
    # urllib3: the pool's timeout unless urlopen is given one; its default is the socket's.
    _case("urllib3", "default", UNBOUNDED), _case("urllib3", "pool", 6.0),
    _case("urllib3", "urlopen", 4.0), _case("urllib3", "pool", 6.0, "fresh"),
    _case("urllib3", "pool", 6.0, server="https"),
    _case("http.client", "default", UNBOUNDED), _case("http.client", "number", 8.0),
    _case("http.client", "number", 8.0, "fresh"),
    _case("http.client", "number", 8.0, server="https"),
    # botocore: connect_timeout and read_timeout, 60 s each by default.
    _case("botocore", "default", 60.0), _case("botocore", "config", 15.0),
    _case("botocore", "default", 60.0, "fresh"),
    _case("botocore", "default", 60.0, server="https"),
    # httpx: 5 s for each wait by default.
    _case("httpx", "default", 5.0), _case("httpx", "number", 11.0),
    _case("httpx", "none", UNBOUNDED), _case("httpx", "object", 13.0),
    _case("httpx", "request", 3.0), _case("httpx", "default", 5.0, "fresh"),
    _case("httpx", "default", 5.0, server="https"),
    _case("httpx.async", "default", 5.0), _case("httpx.async", "object", 13.0),
    _case("httpx.async", "default", 5.0, "fresh"),
    _case("httpx.async", "default", 5.0, server="https"),
    # aiohttp: the session's ClientTimeout (total=300 by default) unless the request has one.
    _case("aiohttp", "default", 300.0), _case("aiohttp", "request", 12.0),
    _case("aiohttp", "session", 9.0), _case("aiohttp", "default", 300.0, "fresh"),
    _case("aiohttp", "default", 300.0, server="https"),
]
# aiohttp (asyncio) connects and shakes hands in one step: no tlsMs apart.
TLS_APART = {"requests", "urllib3", "http.client", "botocore", "httpx", "httpx.async"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireServers]:
    yield from wire_servers(tmp_path_factory.mktemp("connections-cert"))


@pytest.fixture(scope="module")
def run(layer_zip: Path, servers: WireServers,
        tmp_path_factory: pytest.TempPathFactory) -> WireRun:
    sink = tmp_path_factory.mktemp("connections-recaps") / "recaps.jsonl"
    return run_cases(layer_zip, FUNCTIONS / "connections", servers,
                     [expected.case for expected in EXPECTED], sink)


def _calls(run: WireRun, case: Case) -> list[dict[str, object]]:
    result = run.results.get(case.tag)
    assert result is not None and "error" not in result, f"the function's step: {result}"
    calls = calls_tagged(run.recaps, case.tag)
    assert len(calls) == 2, calls
    return sorted(calls, key=lambda call: str(call["startedAt"]))


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda expected: expected.id)
def test_timeout_is_what_the_client_resolved(run: WireRun, expected: Expected) -> None:
    calls = _calls(run, expected.case)
    assert [call.get("timeoutS", "absent") for call in calls] == [expected.timeout_s] * 2


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda expected: expected.id)
def test_connection_is_what_the_upstream_accepted(run: WireRun, servers: WireServers,
                                                  expected: Expected) -> None:
    case = expected.case
    calls = _calls(run, case)
    exchanges = servers.upstream(case.server).log.tagged(case.tag)
    assert len(exchanges) == 2
    on_the_wire = ["reused" if exchange.reused else "new" for exchange in exchanges]
    wanted = ["new", "reused"] if case.options["session"] == "shared" else ["new", "new"]
    assert on_the_wire == wanted  # the upstream's view: what the session did
    assert [call.get("connection") for call in calls] == on_the_wire
    for call in calls:
        if call["connection"] == "new":
            assert isinstance(call["connectMs"], float) and call["connectMs"] > 0
            tls_apart = case.server == "https" and case.do in TLS_APART
            assert (call.get("tlsMs", 0) > 0) is tls_apart, call
        else:
            assert "connectMs" not in call and "tlsMs" not in call
