"""The findings corpus, end to end: every case of findings_corpus.py runs in one execution
environment of the sandbox with the built layer, and each invocation's recap carries exactly
the kinds of finding its label names: every expected finding, none where none is due.

The environment runs with HTTPRECAP_KEEP=notable, so the same invocations also show what
ships: a quiet invocation compact (its findings and summary, no calls), any other in full.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from e2e_support import layer_env, recaps_in, sandbox_for
from findings_corpus import (
    BUCKETS,
    CASES,
    KINDS,
    QUEUES,
    STYLES,
    TABLES,
    Case,
)

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

KEEP_SLOW_MS = 1000  # HTTPRECAP_KEEP_SLOW_MS's default
# What only HTTPRECAP_KEEP asks of the environment: an error, and a quiet but slow invocation.
KEEP_STEPS = {"raises": {"scenario": "raises_after_call"},
              "quiet_but_long": {"scenario": "quiet_but_long", "sleep_s": 1.05}}

Recap = dict[str, Any]


class HostUpstream(UpstreamServer):
    """The demo's upstream on a loopback address of its own (127.0.0.N): a host no other case
    calls."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def server_bind(self) -> None:
        self.server_address = (self._address, 0)
        super().server_bind()

    @property
    def url(self) -> str:
        return f"http://{self._address}:{self.server_address[1]}"


class ThrottlingHandler(BaseHTTPRequestHandler):
    """DynamoDB refusing every request for its throughput, as AWS words it."""

    protocol_version = "HTTP/1.1"
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#"
                                 "ProvisionedThroughputExceededException",
                       "message": "The level of configured provisioned throughput for the "
                                  "table was exceeded."}).encode()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's)
        """Silent."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


class RedirectingHandler(BaseHTTPRequestHandler):
    """Every GET answered 302 to its `to` query parameter, after `ms` milliseconds."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's)
        """Silent."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        time.sleep(int(query["ms"][0]) / 1000)
        self.send_response(302)
        self.send_header("Location", query["to"][0])
        self.send_header("Content-Length", "0")
        self.end_headers()


HANDLERS = {"throttling": ThrottlingHandler, "redirecting": RedirectingHandler}


def _upstreams(case: Case, addresses: Iterator[str]) -> list[HostUpstream]:
    """The case's upstreams; the first answers as `case.upstream` says."""
    servers = [HostUpstream(next(addresses)) for _ in range(case.hosts)]
    if case.upstream in HANDLERS:
        servers[0].RequestHandlerClass = HANDLERS[case.upstream]
    return servers


def _create_resources(moto: MotoServer) -> None:
    env = moto.environment()
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name=env["AWS_REGION"])
    dynamodb = session.client("dynamodb", endpoint_url=moto.url)
    for table in TABLES:
        dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    sqs = session.client("sqs", endpoint_url=moto.url)
    for queue in QUEUES:
        sqs.create_queue(QueueName=queue)
    s3 = session.client("s3", endpoint_url=moto.url)
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, list[str]]]:
    """Each case's upstream URLs, every one on a host of its own."""
    addresses = (f"127.0.0.{n}" for n in itertools.count(2))
    servers: dict[str, list[HostUpstream]] = {
        case.name: _upstreams(case, addresses) for case in CASES}
    servers["keep"] = [HostUpstream(next(addresses))]
    every = list(itertools.chain(*servers.values()))
    for server in every:
        server.__enter__()
    try:
        yield {name: [server.url for server in group] for name, group in servers.items()}
    finally:  # each waits up to half a second for its serving loop to notice: all at once
        with ThreadPoolExecutor(len(every)) as pool:
            list(pool.map(lambda server: server.__exit__(None, None, None), every))


@pytest.fixture(scope="module")
def shipped(layer_zip: Path, moto: MotoServer, upstreams: dict[str, list[str]],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Recap]]:
    """Every case's recaps in step order, and the HTTPRECAP_KEEP steps' (by name)."""
    _create_resources(moto)
    sink = tmp_path_factory.mktemp("corpus") / "recaps.jsonl"
    env = layer_env(HTTPRECAP_SINKS=f"file://{sink}", HTTPRECAP_KEEP="notable",
                    **moto.environment())
    ids: dict[str, list[str]] = {}
    with sandbox_for("findings", layer_zip, env, timeout_s=20) as sandbox:
        for case in CASES:
            events = [{"scenario": case.scenario, "urls": upstreams[case.name], **case.event,
                       **step.event} for step in case.steps]
            ids[case.name] = [sandbox.invoke(event).request_id for event in events]
        for name, event in KEEP_STEPS.items():
            ids[name] = [sandbox.invoke({**event, "urls": upstreams["keep"]}).request_id]
    by_id = {recap["requestId"]: recap for recap in recaps_in(sink)}
    return {name: [by_id[request_id] for request_id in request_ids]
            for name, request_ids in ids.items()}


def _kinds(recap: Recap) -> set[str]:
    return {finding["kind"] for finding in recap.get("findings", [])}


def _param(case: Case) -> Any:
    """The case, expected to fail (strictly) where its detector is known to be wrong."""
    reason = case.detector_bug and f"detector: {case.detector_bug}"
    if reason:
        return pytest.param(case, id=case.name, marks=pytest.mark.xfail(strict=True,
                                                                          reason=reason))
    return pytest.param(case, id=case.name)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_each_invocation_carries_exactly_the_labelled_findings(
        case: Case, shipped: dict[str, list[Recap]]) -> None:
    recaps = shipped[case.name]
    assert [_kinds(recap) for recap in recaps] == [set(step.kinds) for step in case.steps], \
        [recap.get("findings") for recap in recaps]
    for kind, expected in case.fields.items():
        (finding,) = [found for found in recaps[-1]["findings"] if found["kind"] == kind][:1]
        assert {name: finding.get(name) for name in expected} == dict(expected), finding


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_findings_name_their_calls_and_are_counted_in_the_summary(
        case: Case, shipped: dict[str, list[Recap]]) -> None:
    for recap in shipped[case.name]:
        findings = recap["findings"]
        assert recap["summary"]["findings"] == dict(Counter(f["kind"] for f in findings))
        ids = {call["id"] for call in recap["calls"]}
        for finding in findings:
            assert finding["severity"] in ("info", "warning") and finding["message"]
            assert set(finding["callIds"]) <= ids, finding


def _quiet(recap: Recap) -> bool:
    return (recap["status"] == "success" and recap["summary"]["errors"] == 0
            and not recap["findings"] and recap["durationMs"] <= KEEP_SLOW_MS)


def test_keep_notable_ships_quiet_invocations_compact_and_the_others_in_full(
        shipped: dict[str, list[Recap]]) -> None:
    for recap in itertools.chain(*shipped.values()):
        compact = _quiet(recap) and recap["summary"]["count"] > 0
        assert recap.get("compact", False) is compact, recap
        assert compact or len(recap["calls"]) == recap["summary"]["count"], recap


@pytest.mark.parametrize(("name", "why"), [
    ("getitem_tables", "quiet"), ("raises", "the handler raised"),
    ("failed_once_async", "a call failed"), ("identical_get", "a finding"),
    ("quiet_but_long", "longer than HTTPRECAP_KEEP_SLOW_MS")])
def test_keep_notable_on_each_reason(name: str, why: str,
                                     shipped: dict[str, list[Recap]]) -> None:
    (recap,) = shipped[name][-1:]
    assert recap["summary"]["count"] > 0
    if why == "quiet":
        assert recap["compact"] is True and recap["calls"] == []
    else:
        assert "compact" not in recap and len(recap["calls"]) == recap["summary"]["count"]


def test_the_corpus_covers_every_detector_both_ways_in_every_style() -> None:
    for kind in KINDS:
        cases = [case for case in CASES if case.about == kind]
        positives = [case for case in cases if case.positive]
        negatives = [case for case in cases if not case.positive]
        assert len(positives) >= 2 and len(negatives) >= 2, kind
        assert {case.aws for case in positives} == {True, False}, kind
        assert {case.aws for case in negatives} | {case.aws for case in positives} == \
            {True, False}, kind
    assert {case.style for case in CASES} == set(STYLES)
    assert {(case.aws, case.style) for case in CASES} == \
        {(aws, style) for aws in (True, False) for style in STYLES} - {(True, "asyncio")}
