"""Ship: the `firehose://STREAM` sink, PutRecordBatch to a Firehose stream (extension process).

One newline-terminated JSON record per recap, so the objects Firehose writes to S3 are JSON
lines. At most 500 records and about 3.5 MiB per request; records over 1,000 KiB are trimmed.
"""

from __future__ import annotations

from httprecap.external.ship import aws_streams as aws
from httprecap.external.ship.sink_base import Sink, SinkError
from httprecap.external.ship.trim import fit_line

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from httprecap.external.ship.sink_base import Entry

RECORD_LIMIT = 1000 * 1024 - 1
REQUEST_LIMIT = 3_500_000  # under PutRecordBatch's 4 MiB


class FirehoseSink(Sink):
    max_batch = 500

    def __init__(self, stream: str, environ: Mapping[str, str]) -> None:
        if not stream:
            raise ValueError("firehose:// needs a delivery stream name")
        self.name = f"firehose://{stream}"
        self._stream = stream
        self._environ = dict(environ)
        self._client: Any = None

    def prepare(self) -> None:
        self._client = aws.client("firehose", self._environ)

    def send(self, entries: list[Entry]) -> list[Entry]:
        datas = [(fit_line(entry, RECORD_LIMIT) + "\n").encode() for entry in entries]
        count = aws.take_within(datas, REQUEST_LIMIT)
        try:
            response = self._client.put_record_batch(
                DeliveryStreamName=self._stream, Records=[{"Data": d} for d in datas[:count]])
        except Exception as exc:  # botocore's errors are many; any of them fails the batch
            raise SinkError(f"{self.name}: {exc}") from exc
        return aws.not_delivered(self.name, entries, count,
                                 response.get("RequestResponses") or [])
