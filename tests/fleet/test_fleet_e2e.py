"""End to end: the built layer in the sandbox with `HTTPRECAP_SINKS=stdout,emf,file://...`.
The recaps the real extension writes hold every field the fleet queries read, and its EMF
lines carry each host's and each AWS operation's calls, failures and durations, bounded by
HTTPRECAP_EMF_TOP."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from layer_support import layer_env, recaps_in
from test_fleet_queries import checked_query, present, recap_path

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer
from httprecap.fleet.insights_queries import QUERIES
from httprecap.layer.build import build_layer
from httprecap.sandbox import FunctionConfig, Sandbox

pytestmark = pytest.mark.e2e

FUNCTION = Path(__file__).resolve().parents[1] / "e2e/functions/fleet"
EVENTS = [{"steps": ["fast", "fast", "put", "get", "get", "throttled", "fail", "refused"]},
          {"steps": ["slow", "missing", "put"]}]


def _documents(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [json.loads(line.text) for line in sandbox.logs
            if line.source == "extension" and line.text.startswith('{"_aws"')]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory,
            moto: MotoServer) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The recaps (file sink) and the EMF documents (extension's stdout) of EVENTS."""
    scratch = tmp_path_factory.mktemp("fleet-e2e")
    layer = build_layer(scratch / "httprecap-layer.zip").path
    env = moto.environment()
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).create_bucket(
        Bucket="fleet-emf")
    sink = scratch / "recaps.jsonl"
    with UpstreamServer() as upstream:
        config = FunctionConfig(code_dir=FUNCTION, handler="app.handler", layers=[layer],
                                timeout_s=20, env=layer_env(
                                    UPSTREAM_URL=upstream.url, BUCKET="fleet-emf",
                                    HTTPRECAP_SINKS=f"stdout,emf,file://{sink}",
                                    HTTPRECAP_EMF_TOP="1", **env))
        with Sandbox(config) as sandbox:
            results = [sandbox.invoke(event) for event in EVENTS]
            documents = _documents(sandbox)
    assert all(result.ok for result in results)
    yield [r for r in recaps_in(sink) if r["phase"] == "invoke"], documents


def _dimensions(document: dict[str, Any]) -> tuple[str, ...]:
    return tuple(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query.name)
def test_the_real_recaps_hold_every_field_the_query_reads(
        query: Any, shipped: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    recaps, _ = shipped
    checked = checked_query(query)
    paths = {name: recap_path(name, checked.aliases) for name in checked.fields}
    assert [name for name, path in paths.items() if path is not None
            and not any(present(recap, path) for recap in recaps)] == []


def test_each_hosts_latency_values_are_its_calls_durations(
        shipped: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    recaps, documents = shipped
    for recap in recaps:
        mine = [d for d in documents if d["requestId"] == recap["requestId"]
                and _dimensions(d) == ("FunctionName", "Host")]
        latency: dict[str, list[float]] = defaultdict(list)
        for document in mine:
            latency[document["Host"]] += document.get("Latency", [])
        expected: dict[str, list[float]] = defaultdict(list)
        for call in recap["calls"]:
            expected[call["host"]].append(call["durationMs"])
        assert dict(latency) == dict(expected)
        assert {d["Host"]: d["Calls"] for d in mine if "Calls" in d} == {
            host["host"]: host["count"] for host in recap["summary"]["hosts"]}


def test_aws_operations_past_the_top_are_other(
        shipped: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    recaps, documents = shipped
    first = recaps[0]["requestId"]
    operations = {(d["Service"], d["Operation"]): (d["Calls"], d["Errors"], len(d["Latency"]))
                  for d in documents if d["requestId"] == first
                  and _dimensions(d) == ("FunctionName", "Service", "Operation")}
    # two GetObject from moto and the throttled one (429): the busiest; PutObject is `other`
    assert operations == {("s3", "GetObject"): (3, 1, 3), ("other", "other"): (1, 0, 1)}


def test_at_application_log_level_warn_the_metrics_of_quiet_invocations_stay(
        tmp_path: Path, moto: MotoServer) -> None:
    """`LogFormat: JSON`, `ApplicationLogLevel: WARN`: the quiet invocation's recap (INFO) is
    dropped, its EMF lines (at the application level) reach the log like the failed one's."""
    layer = build_layer(tmp_path / "httprecap-layer.zip").path
    with UpstreamServer() as upstream:
        config = FunctionConfig(code_dir=FUNCTION, handler="app.handler", layers=[layer],
                                timeout_s=20, log_format="json", application_log_level="warn",
                                env=layer_env(UPSTREAM_URL=upstream.url, BUCKET="unused",
                                              HTTPRECAP_SINKS="stdout,emf"))
        with Sandbox(config) as sandbox:
            quiet = sandbox.invoke({"steps": ["fast"]}).request_id
            failed = sandbox.invoke({"steps": ["fail"]}).request_id
            lines = [line.text for line in sandbox.logs if line.source == "extension"]
    recaps = [json.loads(line) for line in lines if '"type":"httprecap.recap"' in line]
    assert [recap["requestId"] for recap in recaps] == [failed]
    metered = {json.loads(line)["requestId"] for line in lines if line.startswith('{"_aws"')}
    assert metered == {quiet, failed}
