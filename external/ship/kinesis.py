"""Ship: the `kinesis://STREAM` sink, PutRecords to a Kinesis data stream (extension process).

One record per recap (JSON), partition key = request id. Records over Kinesis's 1 MiB limit
are trimmed like stdout lines; a request carries at most 500 records and about 4.5 MiB, the
rest waits for the next round. Records Kinesis refused individually are returned for retry.
STREAM is a name or a stream ARN.
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

RECORD_LIMIT = 1024 * 1024 - 1024  # the partition key counts towards the 1 MiB
REQUEST_LIMIT = 4_500_000  # under PutRecords' 5 MiB


class KinesisSink(Sink):
    max_batch = 500

    def __init__(self, stream: str, environ: Mapping[str, str]) -> None:
        if not stream:
            raise ValueError("kinesis:// needs a stream name or ARN")
        self.name = f"kinesis://{stream}"
        self._target = {"StreamARN" if stream.startswith("arn:") else "StreamName": stream}
        self._environ = dict(environ)
        self._client: Any = None

    def prepare(self) -> None:
        self._client = aws.client("kinesis", self._environ)

    def send(self, entries: list[Entry]) -> list[Entry]:
        datas = [fit_line(entry, RECORD_LIMIT).encode() for entry in entries]
        count = aws.take_within(datas, REQUEST_LIMIT)
        records = [{"Data": data, "PartitionKey": str(entry.recap.get("requestId") or "-")[:256]}
                   for entry, data in zip(entries[:count], datas[:count], strict=True)]
        try:
            response = self._client.put_records(Records=records, **self._target)
        except Exception as exc:  # botocore's errors are many; any of them fails the batch
            raise SinkError(f"{self.name}: {exc}") from exc
        return aws.not_delivered(self.name, entries, count, response.get("Records") or [])
