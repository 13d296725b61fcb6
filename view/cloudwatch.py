"""View: reads recap log events from CloudWatch Logs with boto3 (dev-time CLI).

`FilterLogEvents` with the quoted term `"httprecap.recap"` makes CloudWatch send only the lines
that can hold a recap; the request id is matched here, after decoding, because term patterns
cannot say "this field". `--follow` polls from the newest timestamp seen, remembering the event
ids at that timestamp so an event is never shown twice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from httprecap.errors import HttprecapError, UsageError
from httprecap.layer import aws

RECAP_PATTERN = '"httprecap.recap"'
POLL_SECONDS = 2.0
_SINCE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `2d` or a sum like `1h30m`."""
    parts = _SINCE.findall(text.strip().lower())
    if not parts or "".join(number + unit for number, unit in parts) != text.strip().lower():
        raise UsageError(f"--since {text!r}: use a duration like 30m, 1h, 2d or 1h30m")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
    return total


@dataclass
class LogGroupReader:
    """Reads one log group's recap events, once or following new ones."""

    log_group: str
    since: timedelta
    region: str | None = None
    page_size: int | None = None  # None: CloudWatch's own (up to 10,000 events a page)
    now: Callable[[], float] = time.time
    _client: Any = field(default=None, repr=False)

    def read(self) -> list[str]:
        """Every matching event message since `since`, oldest first."""
        start = int((self.now() - self.since.total_seconds()) * 1000)
        return [message for _, _, message in self._events_from(start)]

    def follow(self, poll_seconds: float = POLL_SECONDS,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[list[str]]:
        """Batches of new messages, one per poll (possibly empty), forever."""
        start = int((self.now() - self.since.total_seconds()) * 1000)
        # Each poll asks again from the newest timestamp seen (several events can share a
        # millisecond); the ids already shown at that timestamp are left out.
        shown_at_start: set[str] = set()
        while True:
            batch = [event for event in self._events_from(start)
                     if event[1] not in shown_at_start]
            if batch:
                newest = max(timestamp for timestamp, _, _ in batch)
                if newest != start:
                    shown_at_start = set()
                shown_at_start |= {event_id for timestamp, event_id, _ in batch
                                   if timestamp == newest}
                start = newest
            yield [message for _, _, message in batch]
            sleep(poll_seconds)

    def _events_from(self, start_ms: int) -> list[tuple[int, str, str]]:
        import botocore.exceptions

        self._client = self._client or aws.client("logs", self.region)
        paging = {"PageSize": self.page_size} if self.page_size else {}
        pages = self._client.get_paginator("filter_log_events").paginate(
            logGroupName=self.log_group, startTime=start_ms, filterPattern=RECAP_PATTERN,
            PaginationConfig=paging)
        events: list[tuple[int, str, str]] = []
        try:
            for page in pages:
                events += [(int(event["timestamp"]), str(event["eventId"]),
                            str(event["message"])) for event in page.get("events", [])]
        except botocore.exceptions.ClientError as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                region = self._client.meta.region_name
                raise HttprecapError(f"log group {self.log_group} not found in {region}") from None
            raise HttprecapError(aws.describe_client_error(exc)) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise HttprecapError(f"AWS call failed: {aws.one_line(exc)}") from None
        return sorted(events, key=lambda event: event[0])
