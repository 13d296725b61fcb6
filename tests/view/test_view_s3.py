"""`httprecap view s3://BUCKET/PREFIX/`: the objects Firehose delivered to S3, against moto's
server mode. The firehose:// sink puts the recaps through moto's Firehose, which writes the S3
objects itself (uncompressed: moto ignores `CompressionFormat`); compressed objects are written
the way Firehose writes them with `GZIP`."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from httprecap.cli.main import main
from httprecap.demo.aws import MotoServer
from httprecap.errors import HttprecapError, UsageError
from httprecap.external.ship.firehose import FirehoseSink
from httprecap.external.ship.sink_base import Entry
from httprecap.view.s3 import S3Reader, parse_s3_url, read_object

Capture = pytest.CaptureFixture[str]
PREFIX = "recaps/day=2026-11-23/"


@pytest.fixture
def bucket(aws_env: MotoServer) -> str:
    """A fresh bucket, and a Firehose stream of the same name delivering into it."""
    name = f"recaps-{uuid.uuid4().hex[:8]}"
    _client("s3", aws_env).create_bucket(Bucket=name)
    _client("firehose", aws_env).create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{name}", "Prefix": PREFIX,
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    return name


def _client(service: str, moto: MotoServer) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def _fixture_lines(fixtures: Path) -> list[str]:
    return (fixtures / "recaps.jsonl").read_text().splitlines()


def _deliver(bucket: str, moto: MotoServer, lines: list[str], per_batch: int = 2) -> None:
    """The recaps through the firehose:// sink, a few per PutRecordBatch (one object each)."""
    sink = FirehoseSink(bucket, moto.environment())
    sink.prepare()
    for start in range(0, len(lines), per_batch):
        batch = [Entry(json.loads(line)) for line in lines[start:start + per_batch]]
        assert sink.send(batch) == []


def _put(moto: MotoServer, bucket: str, key: str, body: bytes) -> None:
    _client("s3", moto).put_object(Bucket=bucket, Key=key, Body=body)


def _view(capsys: Capture, *args: str) -> tuple[int, str, str]:
    code = main(["view", "--color", "never", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_firehose_output_prints_the_same_tables_as_the_file(
        bucket: str, aws_env: MotoServer, fixtures: Path, capsys: Capture) -> None:
    _deliver(bucket, aws_env, _fixture_lines(fixtures))
    keys = [o["Key"] for o in _client("s3", aws_env).list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 3 and all(key.startswith(PREFIX) for key in keys)
    for output in ((), ("--summary",), ("--findings",), ("--errors",)):
        from_s3 = _view(capsys, f"s3://{bucket}/recaps/", *output)
        from_file = _view(capsys, str(fixtures / "recaps.jsonl"), *output)
        assert from_s3[:2] == from_file[:2], output
        assert from_s3[2].endswith(f"httprecap: read 3 objects under s3://{bucket}/recaps/\n")


def test_gzip_objects_are_read_whatever_their_name(
        bucket: str, aws_env: MotoServer, fixtures: Path, capsys: Capture) -> None:
    lines = _fixture_lines(fixtures)
    first = gzip.compress("".join(line + "\n" for line in lines[:2]).encode())
    rest = b"".join(gzip.compress((line + "\n").encode()) for line in lines[2:])  # members
    _put(aws_env, bucket, f"{PREFIX}{bucket}-1-2026-11-23-18-20-00-a.gz", first)
    _put(aws_env, bucket, f"{PREFIX}{bucket}-1-2026-11-23-18-25-00-b", rest)
    code, out, _ = _view(capsys, f"s3://{bucket}/{PREFIX}", "--json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [json.loads(x) for x in lines]


def test_records_concatenated_without_newlines_are_split(fixtures: Path) -> None:
    recaps = [json.loads(line) for line in _fixture_lines(fixtures)]
    reordered = [dict(reversed(recap.items())) for recap in recaps]  # "type" is not first
    result = read_object("".join(json.dumps(recap) for recap in reordered).encode())
    assert result.recaps == recaps and result.unreadable == 0


def test_logs_subscription_records_give_their_events_recaps(fixtures: Path) -> None:
    lines = _fixture_lines(fixtures)
    records = [{"messageType": "DATA_MESSAGE", "logGroup": "/aws/lambda/orders-api",
                "logEvents": [{"id": str(index), "timestamp": 0, "message": line}]}
               for index, line in enumerate(lines)]
    body = b"".join(gzip.compress(json.dumps(record).encode()) for record in records)
    assert read_object(body).recaps == [json.loads(line) for line in lines]


def test_a_broken_object_counts_as_unreadable() -> None:
    result = read_object(gzip.compress(b'{"type":"httprecap.recap"}\n')[:-9])
    assert (result.recaps, result.unreadable) == ([], 1)


def test_an_empty_prefix_says_so(bucket: str, capsys: Capture) -> None:
    code, _, err = _view(capsys, f"s3://{bucket}/nothing/")
    assert code == 1
    assert err.endswith(f"httprecap: error: no recaps found in s3://{bucket}/nothing/ "
                        "(0 lines read)\n")


def test_a_missing_bucket_is_one_clear_error(aws_env: MotoServer, capsys: Capture) -> None:
    code, _, err = _view(capsys, "s3://no-such-bucket-here/recaps/")
    assert code == 1
    assert err == "httprecap: error: bucket no-such-bucket-here not found\n"


@pytest.mark.parametrize("url", ["s3://", "s3:///recaps/", "s3://Bad_Bucket/x", "s3://ab"])
def test_a_bad_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="give s3://BUCKET/PREFIX/"):
        parse_s3_url(url)


def test_a_url_names_its_bucket_and_prefix() -> None:
    assert parse_s3_url("s3://recaps-bucket/recaps/day=2026-11-23/") == (
        "recaps-bucket", "recaps/day=2026-11-23/")
    assert parse_s3_url("s3://recaps-bucket") == ("recaps-bucket", "")


def test_no_credentials_is_one_clear_error(aws_env: MotoServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(HttprecapError, match="no AWS credentials found"):
        S3Reader("s3://recaps-bucket/recaps/").read()
