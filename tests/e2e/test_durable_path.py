"""The durable path end to end, without AWS: a function runs in the sandbox with the built
layer and two sinks, file:// and firehose://; moto's Firehose delivers the firehose:// records
to moto's S3 (it writes the objects itself, uncompressed: moto leaves `CompressionFormat` and
the `!{timestamp:...}` expressions of a prefix alone, so the stream is created with the
example's prefix evaluated, as Firehose evaluates it, and moto adds its own `YYYY/MM/DD/HH/`
under it). The Glue database and table, the Athena workgroup and the named queries are created
in moto from the SAM template's own definitions.

Then: `httprecap view s3://...` prints what `httprecap view FILE` prints; and each named
query, run on DuckDB over the same S3 objects (athena_support.py: the table's columns and the
SQL translated by sqlglot), agrees with the recaps: the per-host figures with
`httprecap view --summary`, the other queries with the same figures computed from the recaps.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import athena_support
import boto3
import pytest
from cfnlint.decode import decode
from e2e_support import layer_env, recaps_in, sandbox_for

from httprecap.cli.main import main
from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer
from httprecap.fleet import athena
from httprecap.view.read import calls_of, duration_of, host_label, is_failed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples/orders/template.yaml"
BUCKET = "httprecap-recaps-e2e"
STREAM = "httprecap-recaps"
EVENTS = [
    {"steps": ["fast", "fast", "put", "get", "untimed"]},
    {"steps": ["slow", "fail", "missing", "fast"]},
    {"steps": ["throttled", "fast", "get"]},
    {"steps": ["refused", "fast", "fast"]},
    {"steps": ["fast", "slow"], "raise": True},
    {"steps": ["slow", "slow", "put"]},
]
Capture = pytest.CaptureFixture[str]
Recap = dict[str, Any]


@dataclass
class Delivered:
    """What the pipeline produced: the file sink's recaps, and Firehose's S3 objects."""

    jsonl: Path
    recaps: list[Recap]
    objects: dict[str, bytes]
    moto: MotoServer

    @property
    def url(self) -> str:
        return f"s3://{BUCKET}/{athena.DATA_PREFIX}"


@pytest.fixture(scope="module", autouse=True)
def _aws_env(moto: MotoServer) -> Iterator[None]:
    """This process's boto3 (the viewer's too) pointed at moto, with no local AWS config."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**moto.environment(), "AWS_CONFIG_FILE": "/nonexistent",
                            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}.items():
            patch.setenv(name, value)
        yield


def _client(service: str, moto: MotoServer) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def _resources() -> dict[str, Any]:
    template, _ = decode(str(TEMPLATE))
    resources: dict[str, Any] = template["Resources"]
    return resources


def _evaluated(prefix: str, now: datetime) -> str:
    """A Firehose prefix with its `!{timestamp:...}` expressions evaluated (the ones we use)."""
    return re.sub(r"!\{timestamp:yyyy-MM-dd\}", now.strftime("%Y-%m-%d"), prefix)


def _create_stream(moto: MotoServer) -> None:
    """The example's delivery stream, as moto can take it."""
    destination = _resources()["RecapsDeliveryStream"]["Properties"][
        "ExtendedS3DestinationConfiguration"]
    _client("s3", moto).create_bucket(Bucket=BUCKET)
    _client("firehose", moto).create_delivery_stream(
        DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": _evaluated(destination["Prefix"], datetime.now(timezone.utc)),
            "CompressionFormat": destination["CompressionFormat"],
            "BufferingHints": destination["BufferingHints"]})


def _objects(moto: MotoServer) -> dict[str, bytes]:
    s3 = _client("s3", moto)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def delivered(layer_zip: Path, upstream: UpstreamServer, moto: MotoServer,
              tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    _create_stream(moto)
    _client("s3", moto).create_bucket(Bucket="fleet-data")
    jsonl = tmp_path_factory.mktemp("recaps") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, BUCKET="fleet-data",
                    HTTPRECAP_SINKS=f"file://{jsonl},firehose://{STREAM}", **moto.environment())
    with sandbox_for("fleet", layer_zip, env, timeout_s=20) as sandbox:
        results = [sandbox.invoke(event) for event in EVENTS]
    assert [result.ok for result in results] == [not event.get("raise") for event in EVENTS]
    recaps = recaps_in(jsonl)
    assert [recap["requestId"] for recap in recaps] == [result.request_id for result in results]
    return Delivered(jsonl, recaps, _objects(moto), moto)


def _view(capsys: Capture, *args: str) -> tuple[int, str]:
    code = main(["view", "--color", "never", *args])
    return code, capsys.readouterr().out


# --------------------------------------------------------------------------- view s3://

def test_firehose_delivered_one_object_per_batch_under_the_day(delivered: Delivered) -> None:
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert delivered.objects
    assert all(key.startswith(f"recaps/day={day}/") for key in delivered.objects)
    lines = b"".join(delivered.objects.values()).decode().splitlines()
    assert sorted(lines) == sorted(delivered.jsonl.read_text().splitlines())


@pytest.mark.parametrize("output", [(), ("--summary",), ("--findings",), ("--errors",)])
def test_view_s3_prints_the_same_tables_as_the_file(delivered: Delivered, capsys: Capture,
                                                    output: tuple[str, ...]) -> None:
    from_s3 = _view(capsys, delivered.url, *output)
    from_file = _view(capsys, str(delivered.jsonl), *output)
    assert from_s3 == from_file
    assert from_s3[0] == 0 and len(from_s3[1].splitlines()) > 2


# ------------------------------------------------------------------- Glue and Athena (moto)

@pytest.fixture(scope="module")
def catalog(delivered: Delivered) -> dict[str, Any]:
    """The template's Glue database and table, workgroup and named queries, created in moto;
    the table as Glue gives it back."""
    resources, moto = _resources(), delivered.moto
    athena_support.serve_athena_in_moto()
    glue, athena_client = _client("glue", moto), _client("athena", moto)
    glue.create_database(DatabaseInput=resources["RecapsDatabase"]["Properties"]["DatabaseInput"])
    glue.create_table(DatabaseName=athena.DATABASE, TableInput=_table_input(resources))
    workgroup = resources["RecapsWorkGroup"]["Properties"]
    athena_client.create_work_group(Name=workgroup["Name"], Description=workgroup["Description"])
    for resource in resources.values():
        if resource["Type"] == "AWS::Athena::NamedQuery":
            query = resource["Properties"]
            athena_client.create_named_query(
                Name=query["Name"], Description=query["Description"],
                Database=athena.DATABASE, QueryString=query["QueryString"],
                WorkGroup=workgroup["Name"])
    table: dict[str, Any] = glue.get_table(DatabaseName=athena.DATABASE,
                                           Name=athena.TABLE)["Table"]
    return table


def _table_input(resources: dict[str, Any]) -> dict[str, Any]:
    """The template's TableInput with the bucket's name where it says `${RecapsBucket}`."""
    table = resources["RecapsTable"]["Properties"]["TableInput"]
    return _substituted(table)  # type: ignore[no-any-return]


def _substituted(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return value["Fn::Sub"].replace("${RecapsBucket}", BUCKET).replace("${!", "${")
    if isinstance(value, dict):
        return {key: _substituted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item) for item in value]
    return value


def test_the_table_and_the_named_queries_exist(catalog: dict[str, Any],
                                               delivered: Delivered) -> None:
    assert catalog["StorageDescriptor"]["Location"] == f"{delivered.url}"
    assert catalog["Parameters"]["storage.location.template"] == \
        f"{delivered.url}day=${{day}}/"
    client = _client("athena", delivered.moto)
    ids = client.list_named_queries(WorkGroup="httprecap")["NamedQueryIds"]
    stored = {query["Name"]: query["QueryString"] for query in
              (client.get_named_query(NamedQueryId=id_)["NamedQuery"] for id_ in ids)}
    assert stored == {query.full_name: query.sql for query in athena.QUERIES}


@pytest.fixture(scope="module")
def duckdb_recaps(catalog: dict[str, Any], delivered: Delivered,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = athena_support.as_the_serde_reads(delivered.objects, tmp_path_factory.mktemp("s3"))
    connection = athena_support.connect(root / athena.DATA_PREFIX, catalog)
    yield connection
    connection.close()


def _run(connection: Any, query: athena.NamedQuery) -> list[dict[str, Any]]:
    return athena_support.run(connection, query.sql)


def test_host_latency_gives_the_per_host_figures_of_view_summary(
        duckdb_recaps: Any, delivered: Delivered, capsys: Capture) -> None:
    rows = _run(duckdb_recaps, athena.HOST_LATENCY)
    code, summary = _view(capsys, delivered.url, "--summary")
    assert code == 0 and len(summary.splitlines()[2:]) >= 3
    athena_support.check_host_latency(rows, summary)
    assert {row["functions"] for row in rows} == {1}


def _all_calls(recaps: list[Recap]) -> list[tuple[Recap, dict[str, Any]]]:
    return [(recap, call) for recap in recaps for call in calls_of(recap)]


def test_slowest_calls_are_the_longest_calls(duckdb_recaps: Any, delivered: Delivered) -> None:
    rows = _run(duckdb_recaps, athena.SLOWEST_CALLS)
    # The query's order: longest first, equal durations by invocation, then by call id.
    ordered = sorted(((duration_of(call), recap["requestId"], call["id"], host_label(call))
                      for recap, call in _all_calls(delivered.recaps)),
                     key=lambda row: (-row[0], row[1], row[2]))
    assert [(row["duration_ms"], row["request_id"], row["host"]) for row in rows] == \
        [(duration, request_id, host) for duration, request_id, _, host in ordered[:50]]


def test_failed_calls_count_by_host_and_outcome(duckdb_recaps: Any,
                                                delivered: Delivered) -> None:
    rows = _run(duckdb_recaps, athena.FAILED_CALLS)
    expected = Counter(
        (host_label(call), str(call["status"]) if call.get("status") is not None
         else (call.get("error") or {}).get("type", "in flight"))
        for _, call in _all_calls(delivered.recaps) if is_failed(call))
    assert {(row["host"], row["outcome"]): row["calls"] for row in rows} == expected
    assert {"500", "404", "429", "ConnectionError"} <= {outcome for _, outcome in expected}


def test_throttled_operations_name_the_throttled_call(duckdb_recaps: Any,
                                                      delivered: Delivered) -> None:
    rows = _run(duckdb_recaps, athena.THROTTLED_OPERATIONS)
    s3_get = [call for _, call in _all_calls(delivered.recaps)
              if (call.get("aws") or {}).get("operation") == "GetObject"]
    assert [(row["service"], row["operation"], row["calls"], row["throttled"])
            for row in rows] == [("s3", "GetObject", len(s3_get), 1)]


def test_findings_by_kind_count_every_finding(duckdb_recaps: Any,
                                              delivered: Delivered) -> None:
    rows = _run(duckdb_recaps, athena.FINDINGS_BY_KIND)
    expected = Counter((finding["kind"], finding["severity"])
                       for recap in delivered.recaps for finding in recap.get("findings", []))
    assert expected and {(row["kind"], row["severity"]): row["findings"]
                         for row in rows} == expected


def test_functions_by_http_share_sum_the_invocations(duckdb_recaps: Any,
                                                     delivered: Delivered) -> None:
    (row,) = _run(duckdb_recaps, athena.FUNCTIONS_BY_HTTP_SHARE)
    recaps = delivered.recaps
    shares = [recap["summary"]["httpShare"] for recap in recaps]
    assert (row["invocations"], row["calls"], row["failed_calls"]) == (
        len(recaps), sum(recap["summary"]["count"] for recap in recaps),
        sum(recap["summary"]["errors"] for recap in recaps))
    # The query rounds to 3 places: a half-way value may round either way in binary.
    assert row["avg_http_share"] == pytest.approx(sum(shares) / len(shares), abs=0.001)
    assert row["max_http_share"] == pytest.approx(max(shares), abs=0.001)


# Fields a recap carries only when asked to (HTTPRECAP_CAPTURE_HEADERS / _BODIES): free-form,
# and not what a fleet query groups by.
NOT_COLUMNS = {"requestHeaders", "responseHeaders", "requestBody", "responseBody"}


def test_every_field_the_recaps_carry_is_a_column(delivered: Delivered) -> None:
    """A field the extension adds to the recap is one the table must read (fleet/athena.py)."""
    recaps = delivered.recaps
    assert {key for recap in recaps for key in recap} - set(athena.COLUMNS) == set()
    assert {key for recap in recaps for key in recap["summary"]} - set(athena.SUMMARY) == set()
    calls = [call for _, call in _all_calls(recaps)]
    assert {key for call in calls for key in call} - set(athena.CALL) - NOT_COLUMNS == set()
    assert {key for call in calls for key in call.get("aws") or {}} - set(athena.AWS_CALL) == set()
