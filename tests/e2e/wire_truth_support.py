"""Wire truth end to end: the cases (one HTTP call each, through one client), the loopback
servers they call, a function run in the sandbox with the built layer, and the check that
its recap's call says what the servers' logs say (tests/wire_support.py).

Each case's URL carries a tag (`w=<n>`, or `/w-<n>` in an S3 key) unique in the session, so
its recap call and its log lines are found by it. A case runs through the logging upstream on
127.0.0.1 (`http`), with TLS (`https`) or on [::1] (`ipv6`); `proxy` sends it through the
logging forward proxy (absolute-form for http, a CONNECT tunnel for https).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from layer_support import layer_env, recaps_in
from wire_support import (
    Certificate,
    Exchange,
    WireProxy,
    WireUpstream,
    calls_tagged,
    has_ipv6_loopback,
    self_signed,
    tag_of,
    wire_mismatches,
)

from httprecap.sandbox import FunctionConfig, InvokeResult, Sandbox

FUNCTIONS = Path(__file__).parent / "functions"
_tags = itertools.count(1)


@dataclass(frozen=True)
class Case:
    """One call: `do` names the client (functions/wire/wire_steps.py), `path` the endpoint."""

    name: str
    do: str
    method: str
    path: str
    server: str = "http"  # http, https, ipv6
    proxy: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the exception the caller sees (urllib.request's HTTPError)
    tag: int = field(default_factory=lambda: next(_tags))

    @property
    def id(self) -> str:
        return f"{self.do}-{self.name}"

    def tagged_path(self) -> str:
        if self.do == "botocore":  # botocore owns the query: the tag rides in the key
            return self.path.replace("{tag}", f"w-{self.tag}")
        separator = "&" if "?" in self.path else "?"
        return f"{self.path}{separator}w={self.tag}"

    def step(self, servers: WireServers) -> dict[str, Any]:
        """What the function is told to do."""
        step = {"do": self.do, "method": self.method,
                "url": servers.upstream(self.server).url + self.tagged_path(), **self.options}
        if self.proxy:
            step["proxy"] = servers.proxy.url
        return step

    def again(self) -> Case:
        """The same call under a fresh tag (another function runs it)."""
        return dataclasses.replace(self, tag=next(_tags))


class WireServers:
    """The logging upstreams (http, https, and ipv6 when the machine has [::1]) and proxy."""

    def __init__(self, certificate: Certificate) -> None:
        self.certificate = certificate
        self._upstreams = {"http": WireUpstream(), "https": WireUpstream(tls=certificate)}
        if has_ipv6_loopback():
            self._upstreams["ipv6"] = WireUpstream("::1")
        self.proxy = WireProxy()

    def has(self, name: str) -> bool:
        return name in self._upstreams

    def upstream(self, name: str) -> WireUpstream:
        if name not in self._upstreams:
            pytest.skip("this machine has no IPv6 loopback")
        return self._upstreams[name]

    def __enter__(self) -> WireServers:
        for server in (*self._upstreams.values(), self.proxy):
            server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (*self._upstreams.values(), self.proxy):
            server.__exit__(None, None, None)

    def env(self) -> dict[str, str]:
        """How the function trusts the upstream's self-signed certificate, per client."""
        ca = str(self.certificate.cert)
        return {"WIRE_CA": ca, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca,
                "AWS_CA_BUNDLE": ca}


def wire_servers(directory: Path) -> Iterator[WireServers]:
    """The body of a fixture that starts every server for a test module."""
    with WireServers(self_signed(directory)) as servers:
        yield servers


# ---------------------------------------------------------------- the cases per client

def _http_client_cases(do: str) -> list[Case]:
    """What every client is asked: the plain call, a body, HEAD and bodiless statuses, TLS,
    IPv6, a redirect chain, streamed bodies both ways, and a forward proxy."""
    post = {"body": 777}
    return [
        Case("get", do, "GET", "/bytes?n=1234"),
        Case("post-bytes", do, "POST", "/echo", options=post),
        Case("put-bytes", do, "PUT", "/echo", options={"body": 10}),
        Case("patch-bytes", do, "PATCH", "/echo", options={"body": 20}),
        Case("delete", do, "DELETE", "/bytes?n=10"),
        Case("head", do, "HEAD", "/bytes?n=100"),
        Case("status-204", do, "GET", "/status/204"),
        Case("status-304", do, "GET", "/status/304"),
        Case("status-500", do, "GET", "/status/500"),
        Case("get-https", do, "GET", "/bytes?n=2345", server="https"),
        Case("post-https", do, "POST", "/echo", server="https", options={"body": 3000}),
        Case("get-ipv6", do, "GET", "/bytes?n=345", server="ipv6"),
        Case("redirect-chain", do, "GET", "/redirect?hops=2&n=64"),
        Case("redirect-307-post", do, "POST", "/redirect?answer=307&to=/echo",
             options={"body": 300}),
        Case("chunked-response", do, "GET", "/chunked?n=999"),
        Case("gzip-response", do, "GET", "/gzip?n=5000"),
        Case("proxy-http", do, "GET", "/bytes?n=444", proxy=True),
        Case("proxy-https", do, "GET", "/bytes?n=555", server="https", proxy=True),
    ]


def requests_cases() -> list[Case]:
    return [*_http_client_cases("requests"),
            Case("post-file", "requests", "POST", "/echo",
                 options={"body": 555, "body_kind": "file"}),
            Case("post-stream", "requests", "POST", "/echo",
                 options={"body": 450, "body_kind": "stream"}),
            Case("stream-response", "requests", "GET", "/chunked?n=888",
                 options={"stream": True}),
            Case("retry-503", "requests", "GET", "/flaky?fails=1&n=50", options={"retries": 2}),
            Case("retry-503-post", "requests", "POST", "/flaky?fails=1&n=51",
                 options={"retries": 2, "body": 64})]


def urllib3_cases() -> list[Case]:
    retry = {"retries": 2}
    return [*(case for case in _http_client_cases("urllib3.manager")
              if case.name not in ("proxy-http", "proxy-https")),
            Case("get", "urllib3.pool", "GET", "/bytes?n=1111"),
            Case("post-bytes", "urllib3.pool", "POST", "/echo", options={"body": 222}),
            Case("get-https", "urllib3.pool", "GET", "/bytes?n=99", server="https"),
            Case("retry-503", "urllib3.pool", "GET", "/flaky?fails=1&n=77", options=retry),
            Case("retry-503-twice", "urllib3.manager", "GET", "/flaky?fails=2&n=78",
                 options=retry),
            Case("retry-503-post", "urllib3.pool", "POST", "/flaky?fails=1&n=12",
                 options={"retries": 2, "body": 64}),
            Case("redirect-chain", "urllib3.pool", "GET", "/redirect?hops=2&n=65"),
            Case("head", "urllib3.pool", "HEAD", "/bytes?n=100"),
            Case("stream-response", "urllib3.manager", "GET", "/chunked?n=777",
                 options={"stream": True}),
            Case("post-stream", "urllib3.manager", "POST", "/echo",
                 options={"body": 450, "body_kind": "stream"}),
            Case("post-redirect-positional", "urllib3.manager_urlopen", "POST", "/echo",
                 options={"body": 321}),
            Case("proxy-http", "urllib3.proxy", "GET", "/bytes?n=444", proxy=True),
            Case("proxy-https", "urllib3.proxy", "GET", "/bytes?n=555", server="https",
                 proxy=True)]


def stdlib_cases() -> list[Case]:
    connection = [case for case in _http_client_cases("http.client")
                  if not case.name.startswith(("redirect", "proxy"))]
    # urllib.request raises HTTPError for a status of 300 or more it does not follow.
    opener = [dataclasses.replace(case, error="HTTPError")
              if case.name in ("status-304", "status-500", "redirect-307-post") else case
              for case in _http_client_cases("urllib.request")]
    return [*connection, *opener,
            Case("post-file", "urllib.request", "POST", "/echo",
                 options={"body": 555, "body_kind": "file"})]


def botocore_cases() -> list[Case]:
    put = {"op": "put", "body": 2048}
    return [Case("put-object", "botocore", "PUT", "/wire/{tag}/a.bin", options=put),
            Case("get-object", "botocore", "GET", "/wire/{tag}/a.bin", options={"op": "get"}),
            Case("head-object", "botocore", "HEAD", "/wire/{tag}/a.bin",
                 options={"op": "head"}),
            Case("get-object-retry-503", "botocore", "GET", "/wire/{tag}/flaky.bin",
                 options={"op": "get", "retries": 3}),
            Case("put-object-retry-503", "botocore", "PUT", "/wire/{tag}/flaky.bin",
                 options={**put, "retries": 3}),
            Case("delete-object", "botocore", "DELETE", "/wire/{tag}/a.bin",
                 options={"op": "delete"}),
            Case("put-object-https", "botocore", "PUT", "/wire/{tag}/b.bin", server="https",
                 options=put),
            Case("get-object-https", "botocore", "GET", "/wire/{tag}/b.bin", server="https",
                 options={"op": "get"}),
            Case("get-object-ipv6", "botocore", "GET", "/wire/{tag}/c.bin", server="ipv6",
                 options={"op": "get"}),
            Case("get-object-proxy-http", "botocore", "GET", "/wire/{tag}/d.bin", proxy=True,
                 options={"op": "get"})]


def httpx_cases(do: str) -> list[Case]:
    return [*_http_client_cases(do),
            Case("post-stream", do, "POST", "/echo",
                 options={"body": 450, "body_kind": "stream"}),
            Case("stream-response", do, "GET", "/chunked?n=888", options={"stream": True})]


def aiohttp_cases() -> list[Case]:
    return [*_http_client_cases("aiohttp"),
            Case("post-stream", "aiohttp", "POST", "/echo",
                 options={"body": 450, "body_kind": "stream"})]


# ---------------------------------------------------------------- running and checking


@dataclass
class WireRun:
    """A function's run of some cases: each case's step result, and every recap."""

    cases: list[Case]
    results: dict[int, dict[str, Any]]  # by tag
    invocations: list[InvokeResult]
    recaps: list[dict[str, Any]]
    payloads: list[dict[str, Any]]


def run_cases(layer_zip: Path, code_dir: Path, servers: WireServers, cases: list[Case],
              sink: Path) -> WireRun:
    """Run `cases` in one sandbox: one invocation per client (in `cases`' order); a case
    whose server this machine lacks (IPv6) is left out."""
    env = layer_env(HTTPRECAP_SINKS=f"file://{sink}", **servers.env())
    config = FunctionConfig(code_dir=code_dir, handler="app.handler", layers=[layer_zip],
                            env=env, timeout_s=60)
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.do, []).append(case)
    results: dict[int, dict[str, Any]] = {}
    invocations, payloads = [], []
    runnable = {do: [case for case in group if servers.has(case.server)]
                for do, group in groups.items()}
    with Sandbox(config) as sandbox:
        for group in runnable.values():
            invocation = sandbox.invoke({"steps": [case.step(servers) for case in group]})
            invocations.append(invocation)
            payload = json.loads(invocation.payload) if invocation.ok else {}
            payloads.append(payload)
            for case, result in zip(group, payload.get("results", []), strict=False):
                results[case.tag] = result
    return WireRun(cases, results, invocations, recaps_in(sink), payloads)


def wire_log_of(case: Case, servers: WireServers) -> list[Exchange]:
    """The log lines of `case`'s requests as its client sent them: the proxy's for a plain
    http call through it (absolute-form), else the upstream's (a tunnel hides nothing)."""
    log = servers.proxy.log if case.proxy and case.server != "https" \
        else servers.upstream(case.server).log
    return log.tagged(case.tag)


def check_wire_exact(run: WireRun, case: Case, servers: WireServers) -> None:
    """The one recap call tagged like `case` says what the wire says (fails naming each field
    that differs)."""
    result = run.results.get(case.tag)
    assert result is not None and "error" not in result, f"the function's step: {result}"
    calls = calls_tagged(run.recaps, case.tag)
    exchanges = wire_log_of(case, servers)
    assert len(calls) == 1, (f"{len(calls)} recap calls carry tag w={case.tag}: "
                             f"{[(c['method'], c['url'], c['status']) for c in calls]}; "
                             f"the wire: {exchanges}")
    upstream = servers.upstream(case.server)
    origin = (upstream.scheme, upstream.host, upstream.port)
    error = calls[0]["error"]
    assert (error["type"] if error else None) == case.error, f"the recap's error: {error}"
    mismatches = wire_mismatches(calls[0], exchanges, origin)
    assert not mismatches, f"(recap, wire) differ: {mismatches}; the wire: {exchanges}"
    if case.proxy:
        _check_went_through_proxy(case, servers)


def _check_went_through_proxy(case: Case, servers: WireServers) -> None:
    upstream = servers.upstream(case.server)
    if case.server == "https":
        tunnels = [e for e in servers.proxy.log.all() if e.method == "CONNECT"
                   and e.target.endswith(f":{upstream.port}")]
        assert tunnels, "the client never asked the proxy for a tunnel"
    else:
        forwarded = upstream.log.tagged(case.tag)
        assert [e.method for e in forwarded] == [e.method for e in wire_log_of(case, servers)]


def check_no_stray_calls(run: WireRun) -> None:
    """Every recap call of an invocation is one of its cases' (by tag): nothing else was
    recorded, nothing counted twice under another name."""
    tags = {case.tag for case in run.cases}
    by_request = {r["requestId"]: r for r in run.recaps if r["phase"] == "invoke"}
    for invocation in run.invocations:
        recap = by_request[invocation.request_id]
        strays = [call["url"] for call in recap["calls"]
                  if tag_of(call["url"]) not in tags]
        assert strays == [], f"recorded, yet no case's: {strays}"
