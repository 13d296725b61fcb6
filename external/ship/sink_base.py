"""Ship: what every sink implements, and the shipped unit, `Entry` (extension process).

A sink's `send` runs on that sink's own worker thread (see shipper.py), so it may block; it
returns the entries it could not deliver (partial failures, e.g. Kinesis per-record errors),
or raises when the whole batch failed. Heavy imports (boto3) belong in `prepare`, which the
worker runs once, off the start-up path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from httprecap.external.aggregate.encode import EncodedRecap, compact_json

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.recap_schema import Recap

__all__ = ["Entry", "Sink", "SinkError", "compact_json"]


class SinkError(Exception):
    """A sink could not deliver a batch; the batch stays queued for a later attempt."""


class Entry:
    """One recap on its way to the sinks; its JSON line is built once, shared by all sinks.

    `recap` is what ships: without its calls when HTTPRECAP_KEEP=notable found it quiet
    (keep.py). `full` has every call, for a sink that measures them (emf: its metrics must
    count quiet invocations too)."""

    __slots__ = ("full", "recap")

    def __init__(self, recap: EncodedRecap | Recap) -> None:
        self.recap = self.full = (recap if isinstance(recap, EncodedRecap)
                                  else EncodedRecap.from_dict(recap))

    def line(self) -> str:
        return self.recap.line()


class Sink(ABC):
    name: str = "sink"
    max_batch: int = 100  # entries per `send`

    def prepare(self) -> None:  # noqa: B027 - most sinks have nothing to prepare
        """Load what `send` needs (runs once on the worker thread, before the first send)."""

    def send_now(self, entries: list[Entry]) -> bool:
        """Deliver `entries` on the calling thread (the run loop's) if that cannot wait, and
        say so; send nothing and return False if it could. A recap that ships this way needs
        no hand-over to the worker thread and back, which the function is billed for."""
        return False

    @abstractmethod
    def send(self, entries: list[Entry]) -> list[Entry]:
        """Deliver `entries`; return those not delivered. Raise SinkError if none was."""
