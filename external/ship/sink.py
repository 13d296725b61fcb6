"""Ship: what every sink implements, and the shipped unit, `Entry` (extension process).

A sink's `send` runs on that sink's own worker thread (see shipper.py), so it may block; it
returns the entries it could not deliver (partial failures, e.g. Kinesis per-record errors),
or raises when the whole batch failed. Heavy imports (boto3) belong in `prepare`, which the
worker runs once, off the start-up path.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

# One encoder for every line: json.dumps with options builds a new encoder per call, which
# costs more than encoding a small call record.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact_json(value: Any) -> str:
    return _ENCODER.encode(value)


class SinkError(Exception):
    """A sink could not deliver a batch; the batch stays queued for a later attempt."""


class Entry:
    """One recap on its way to the sinks; its JSON line is computed once, shared by all sinks."""

    __slots__ = ("_line", "recap")

    def __init__(self, recap: dict[str, Any]) -> None:
        self.recap = recap
        self._line: str | None = None

    def line(self) -> str:
        if self._line is None:
            self._line = compact_json(self.recap)
        return self._line


class Sink(ABC):
    name: str = "sink"
    max_batch: int = 100  # entries per `send`

    def prepare(self) -> None:  # noqa: B027 - most sinks have nothing to prepare
        """Load what `send` needs (runs once on the worker thread, before the first send)."""

    @abstractmethod
    def send(self, entries: list[Entry]) -> list[Entry]:
        """Deliver `entries`; return those not delivered. Raise SinkError if none was."""
