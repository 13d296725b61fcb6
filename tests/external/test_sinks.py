"""Each sink against a real receiver: stdout/emf streams, a file, an HTTP server, an OTLP
receiver that parses with opentelemetry-proto, and moto's server for Kinesis and Firehose."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ext_support import T0, Receiver, call
from layer_support import free_port

from httprecap.external.aggregate.encode import EncodedRecap
from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import Context, Outcome, build_recap
from httprecap.external.ship.emf import EmfSink
from httprecap.external.ship.file import FileSink
from httprecap.external.ship.http_post import HttpSink
from httprecap.external.ship.otlp import OtlpSink, trace_id_of
from httprecap.external.ship.registry import build_sinks
from httprecap.external.ship.sink_base import Entry
from httprecap.external.ship.stdout import LINE_LIMIT, PIPE_BYTES, StdoutSink

TRACE = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"


def recap(request_id: str = "r1", calls: int = 2, **overrides: Any) -> EncodedRecap:
    inv = Invocation(request_id, "invoke", 0.0)
    inv.trace = TRACE
    for n in range(calls):
        status = 500 if n == 1 else 200
        inv.add_call(EncodedCall(call(request_id, f"c{n}", offset_ms=n * 10.0, status=status,
                                      host="api.example.com" if n % 2 == 0 else
                                      "db.example.com")), 100_000)
    built = build_recap(inv, Outcome("success", T0, 100.0),
                        Context("orders-api", "$LATEST", {}, 0.1))
    built.fields.update(overrides)
    return built


def test_stdout_writes_one_json_line_per_recap() -> None:
    stream = io.BytesIO()
    assert StdoutSink(stream).send([Entry(recap("r1")), Entry(recap("r2"))]) == []
    lines = stream.getvalue().decode().splitlines()
    assert [json.loads(line)["requestId"] for line in lines] == ["r1", "r2"]


def test_stdout_trims_calls_from_the_end_to_fit_cloudwatch() -> None:
    big = recap(calls=2000, hint="x" * 10)
    stream = io.BytesIO()
    StdoutSink(stream).send([Entry(big)])
    [line] = stream.getvalue().splitlines()
    assert len(line) <= LINE_LIMIT
    trimmed = json.loads(line)
    kept = len(trimmed["calls"])
    assert 0 < kept < 2000
    assert trimmed["truncated"] == {"calls": 2000 - kept}
    assert trimmed["calls"] == big["calls"][:kept]
    assert trimmed["summary"]["count"] == 2000  # the summary still covers every call


def test_stdout_makes_room_in_its_pipe_for_whole_lines() -> None:
    import fcntl
    import os

    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reader, os.fdopen(write_end, "wb") as writer:
        StdoutSink(writer).send([Entry(recap("r1"))])
        assert fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) == PIPE_BYTES
        assert json.loads(reader.readline())["requestId"] == "r1"


def test_emf_lines_carry_metrics_by_function_and_by_host() -> None:
    stream = io.BytesIO()
    EmfSink(stream).send([Entry(recap(calls=3))])
    documents = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(documents) == 3  # the invocation, then two hosts
    total, *hosts = documents
    directive = total["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "httprecap"
    assert directive["Dimensions"] == [["FunctionName"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"Calls", "Errors", "HttpTime"}
    assert (total["FunctionName"], total["Calls"], total["Errors"]) == ("orders-api", 3, 1)
    assert total["_aws"]["Timestamp"] == T0 // 1000
    assert hosts[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName", "Host"]]
    assert {(h["Host"], h["Calls"]) for h in hosts} == {("api.example.com", 2),
                                                         ("db.example.com", 1)}


def test_file_sink_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "recaps.jsonl"
    sink = FileSink(str(path))
    sink.send([Entry(recap("r1"))])
    sink.send([Entry(recap("r2")), Entry(recap("r3"))])
    assert [json.loads(line)["requestId"] for line in path.read_text().splitlines()] == [
        "r1", "r2", "r3"]


def test_http_sink_posts_a_json_array_with_the_configured_headers(receiver: Receiver) -> None:
    sink = HttpSink(receiver.url + "/ingest", (("Authorization", "Bearer t0k"),))
    sink.prepare()
    sink.send([Entry(recap("r1")), Entry(recap("r2"))])
    sink.send([Entry(recap("r3"))])
    assert [[r["requestId"] for r in json.loads(body)] for body in receiver.bodies] == [
        ["r1", "r2"], ["r3"]]
    assert receiver.headers[0]["authorization"] == "Bearer t0k"
    assert receiver.headers[0]["content-type"] == "application/json"


def test_http_sink_raises_on_a_server_error(receiver: Receiver) -> None:
    from httprecap.external.ship.sink_base import SinkError

    receiver.status = 503
    with pytest.raises(SinkError, match="503"):
        HttpSink(receiver.url).send([Entry(recap())])


# ------------------------------------------------------------------------------------ OTLP


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping reads bytes as base64."""
    if isinstance(node, dict):
        return {key: (base64.b64encode(bytes.fromhex(value)).decode()
                      if key in ("traceId", "spanId", "parentSpanId") else
                      _hex_ids_to_base64(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _parse_otlp(body: bytes) -> Any:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    return json_format.Parse(json.dumps(_hex_ids_to_base64(json.loads(body))),
                             ExportTraceServiceRequest())


def _attributes(span: Any) -> dict[str, Any]:
    values = {}
    for item in span.attributes:
        kind = item.value.WhichOneof("value")
        values[item.key] = getattr(item.value, kind)
    return values


def test_otlp_sink_exports_a_server_span_and_client_spans(receiver: Receiver) -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    aws = {"service": "s3", "operation": "GetObject", "region": "us-east-1"}
    item = recap(calls=2)
    item["calls"][0]["aws"] = aws
    item["calls"][1]["error"] = {"type": "ConnectionResetError", "message": "reset"}
    OtlpSink(f"otlp+http://127.0.0.1:{receiver.port}", "us-east-1").send([Entry(item)])
    request = _parse_otlp(receiver.bodies[0])
    [resource] = request.resource_spans
    assert {a.key: a.value.string_value for a in resource.resource.attributes}[
        "service.name"] == "orders-api"
    server, first, second = resource.scope_spans[0].spans
    assert server.kind == Span.SPAN_KIND_SERVER and server.name == "orders-api"
    assert server.trace_id.hex() == "5bef4de7ad49b0e87f6ef6c87fc2e700"
    assert server.parent_span_id.hex() == "9a9197af755a6419"
    assert server.start_time_unix_nano == T0 * 1000
    assert server.end_time_unix_nano == (T0 + 100_000) * 1000
    for client in (first, second):
        assert client.kind == Span.SPAN_KIND_CLIENT
        assert client.trace_id == server.trace_id and client.parent_span_id == server.span_id
    attributes = _attributes(first)
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.full"] == "https://api.example.com/v1/items"
    assert attributes["server.address"] == "api.example.com"
    assert attributes["server.port"] == 443
    assert attributes["http.response.status_code"] == 200
    assert attributes["rpc.service"] == "s3" and "error.type" not in attributes
    assert _attributes(second)["error.type"] == "ConnectionResetError"
    assert second.status.code == 2  # STATUS_CODE_ERROR


def test_trace_id_is_random_without_an_xray_header() -> None:
    first, second = trace_id_of(None), trace_id_of("Root=garbage")
    assert len(first) == 32 and first != second
    assert trace_id_of(TRACE) == "5bef4de7ad49b0e87f6ef6c87fc2e700"


# ---------------------------------------------------------------------- Kinesis / Firehose


@pytest.fixture(scope="module")
def moto_env() -> Iterator[dict[str, str]]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    server.stop()


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _client(service: str, env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(service, region_name=env["AWS_REGION"],
                        endpoint_url=env["AWS_ENDPOINT_URL"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_kinesis_sink_puts_one_record_per_recap(moto_env: dict[str, str]) -> None:
    from httprecap.external.ship.kinesis import KinesisSink

    stream = _unique("recaps")  # moto's state is the process's: other tests made "recaps"
    kinesis = _client("kinesis", moto_env)
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream,
                                             WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    sink = KinesisSink(stream, moto_env)
    sink.prepare()
    assert sink.send([Entry(recap("r1")), Entry(recap("r2"))]) == []
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [json.loads(r["Data"])["requestId"] for r in records] == ["r1", "r2"]
    assert [r["PartitionKey"] for r in records] == ["r1", "r2"]


def test_firehose_sink_puts_newline_terminated_records(moto_env: dict[str, str]) -> None:
    from httprecap.external.ship.firehose import FirehoseSink

    name = _unique("recaps")  # moto's state is the process's: other tests made "recaps"
    s3 = _client("s3", moto_env)
    s3.create_bucket(Bucket=name)
    firehose = _client("firehose", moto_env)
    firehose.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{name}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    sink = FirehoseSink(name, moto_env)
    sink.prepare()
    assert sink.send([Entry(recap("r1")), Entry(recap("r2"))]) == []
    objects = s3.list_objects_v2(Bucket=name).get("Contents", [])
    data = b"".join(s3.get_object(Bucket=name, Key=o["Key"])["Body"].read()
                    for o in objects)
    assert [json.loads(line)["requestId"] for line in data.splitlines()] == ["r1", "r2"]


def test_a_missing_stream_fails_the_batch(moto_env: dict[str, str]) -> None:
    from httprecap.external.ship.kinesis import KinesisSink
    from httprecap.external.ship.sink_base import SinkError

    sink = KinesisSink("no-such-stream", moto_env)
    sink.prepare()
    with pytest.raises(SinkError):
        sink.send([Entry(recap())])


# ------------------------------------------------------------------------------ the specs


def test_sink_specs_build_each_kind_and_warn_about_bad_ones() -> None:
    sinks, warnings = build_sinks(
        ("stdout", "emf", "file:///tmp/x.jsonl", "https://example.com/in", "kinesis://s",
         "firehose://f", "otlp+http://127.0.0.1:4318", "bogus", "file://", "otlp+http://h",
         "stdout"), (), {})
    assert [type(s).__name__ for s in sinks] == [
        "StdoutSink", "EmfSink", "FileSink", "HttpSink", "KinesisSink", "FirehoseSink",
        "OtlpSink"]
    assert len(warnings) == 3
    assert all(w.startswith("HTTPRECAP_SINKS: ") for w in warnings)
