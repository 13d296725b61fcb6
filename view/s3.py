"""View: reads the recaps Firehose delivered to S3, `s3://BUCKET/PREFIX/` (dev-time CLI).

Every object under the prefix is read, and its recaps are given in the order they started:
Firehose names objects by partition and delivery time, down to the second only, so key order
alone would mix the recaps of objects delivered within one second. An object may be
gzip-compressed (Firehose's `GZIP`; several gzip members concatenated are read as one stream)
or not, whatever its name. Its records are read like any other recap source: the `firehose://`
sink writes one recap per line. Records concatenated without a newline (another producer's)
are split apart, and a CloudWatch Logs subscription's records (`logEvents` envelopes of the
`stdout` sink's lines) give their events' messages.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from httprecap.errors import HttprecapError, UsageError
from httprecap.layer import aws
from httprecap.view.read import ReadResult, is_recap, read_lines, read_text

SCHEME = "s3://"
GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_REGION = "us-east-1"  # S3 answers from any region; botocore follows its redirects
# S3's rules for bucket names (lowercase letters, digits, dots, hyphens; 3 to 63 characters).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DECODER = json.JSONDecoder()


def is_s3_url(source: str) -> bool:
    return source.lower().startswith(SCHEME)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://BUCKET/PREFIX/` as (bucket, prefix); the prefix may be empty."""
    bucket, _, prefix = url[len(SCHEME):].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise UsageError(f"{url}: give s3://BUCKET/PREFIX/ with a valid bucket name")
    return bucket, prefix


@dataclass
class S3Reader:
    """Reads every recap under one S3 prefix."""

    url: str
    region: str | None = None
    objects: int = 0
    _client: Any = field(default=None, repr=False)

    def read(self) -> ReadResult:
        bucket, prefix = parse_s3_url(self.url)
        result = ReadResult()
        for key in self._keys(bucket, prefix):
            result.add(read_object(self._get(bucket, key)))
            self.objects += 1
        result.recaps.sort(key=lambda recap: str(recap.get("startedAt") or ""))
        return result

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                     Prefix=prefix)
        keys: list[str] = []
        with _aws_errors(bucket):
            for page in pages:
                keys += [str(item["Key"]) for item in page.get("Contents", [])]
        return sorted(keys)

    def _get(self, bucket: str, key: str) -> bytes:
        with _aws_errors(bucket):
            return bytes(self._s3().get_object(Bucket=bucket, Key=key)["Body"].read())

    def _s3(self) -> Any:
        if self._client is None:
            self._client = aws.client("s3", self.region or _configured_region())
        return self._client


def _configured_region() -> str:
    import boto3

    return boto3.session.Session().region_name or DEFAULT_REGION


@contextmanager
def _aws_errors(bucket: str) -> Iterator[None]:
    """boto3's errors while reading `bucket`, as one line for the command line."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if aws.error_code(exc) == "NoSuchBucket":
            raise HttprecapError(f"bucket {bucket} not found") from None
        raise HttprecapError(aws.describe_client_error(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise HttprecapError(f"AWS call failed: {aws.one_line(exc)}") from None


def read_object(body: bytes) -> ReadResult:
    """The recaps in one delivered object, compressed or not."""
    try:
        data = gzip.decompress(body) if body.startswith(GZIP_MAGIC) else body
    except (OSError, EOFError, zlib.error):
        return ReadResult(lines=1, unreadable=1)
    text = data.decode("utf-8", errors="replace")
    if "\n" in text.strip():  # JSON lines, as the firehose:// sink writes them
        return read_text(text)
    return read_records(text)


def read_records(text: str) -> ReadResult:
    """Records concatenated without separators: recaps, or Logs subscription envelopes."""
    result = ReadResult()
    for record in _concatenated(text):
        if isinstance(record, str):  # not JSON: read as lines, the way a file is
            result.add(read_text(record))
        elif is_recap(record):
            result.recaps.append(record)
            result.lines += 1
        else:
            result.add(read_lines(_messages(record)))
    return result


def _concatenated(text: str) -> Iterator[Any]:
    """Each JSON value in `text`; from the first one that does not decode, the rest as text."""
    position = 0
    while True:
        start = position
        while start < len(text) and text[start].isspace():
            start += 1
        if start == len(text):
            return
        try:
            value, position = _DECODER.raw_decode(text, start)
        except ValueError:
            yield text[start:]
            return
        yield value


def _messages(record: object) -> list[str]:
    """The log events' messages of a CloudWatch Logs subscription record, else its text."""
    events = record.get("logEvents") if isinstance(record, dict) else None
    if isinstance(events, list):
        return [str(event.get("message", "")) for event in events if isinstance(event, dict)]
    return [json.dumps(record)]
