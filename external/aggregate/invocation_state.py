"""Aggregate: everything known about one invocation, keyed by its request id (extension process).

Data about an invocation comes from three places, in any order: the function process's batches
(`start`, `call`, `end`), the Extensions API (INVOKE) and the Telemetry API. An `Invocation`
only records what arrived; `store.Aggregator` decides when it is complete and
`recap.build_recap` turns it into the recap.
"""

from __future__ import annotations

from collections import Counter

from httprecap import wire
from httprecap.external.aggregate.recap_summary import Tally

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.wire import EndMessage, WireCall


class Invocation:
    __slots__ = ("calls", "completed_at", "deadline_at", "deadline_us", "dropped", "end",
                 "end_at", "function_arn", "gone", "invoked", "invoked_at_us", "phase", "pid",
                 "platform_start_us", "received", "report_status", "request_id",
                 "runtime_done", "runtime_done_at", "seen", "starts", "tally", "touched_at",
                 "trace", "unusable_starts")

    def __init__(self, request_id: str, phase: str, touched_at: float) -> None:
        self.request_id = request_id
        self.phase = phase  # "invoke", or "init" for the init phase's calls
        self.touched_at = touched_at  # monotonic time of the latest input, for eviction
        self.calls: list[EncodedCall] = []  # finished calls, in arrival order
        self.tally = Tally()  # the summary of `calls` so far
        self.starts: dict[str, WireCall] = {}  # calls not finished yet: their `start` notices
        self.seen: set[str] = set()  # ids of the `call`s received (bounded)
        self.received = 0  # distinct `call` messages received, including those the cap dropped
        self.dropped: Counter[str] = Counter()
        self.end: EndMessage | None = None
        self.end_at: float | None = None
        self.invoked = False  # an INVOKE event named it
        self.deadline_at: float | None = None  # monotonic
        self.deadline_us: int | None = None  # wall clock
        self.completed_at: float | None = None  # monotonic, when the store found it complete
        self.invoked_at_us: int | None = None  # wall clock, when the INVOKE was seen
        self.trace: str | None = None
        self.function_arn: str | None = None  # as invoked: names the alias, if any
        self.platform_start_us: int | None = None
        # Lambda's telemetry record (runtimeDone, or report): its shape is Lambda's.
        self.runtime_done: dict[str, Any] | None = None
        self.runtime_done_at: float | None = None
        self.report_status: str | None = None
        self.pid: int | None = None  # the process whose messages named it last
        self.gone = False  # that process died before the invocation's `end` (store.process_gone)
        self.unusable_starts: set[str] = set()  # ids of start notices that broke the contract

    @property
    def has_calls(self) -> bool:
        return bool(self.calls or self.starts or self.dropped or self.unusable_starts)

    def add_call(self, call: EncodedCall, cap: int) -> None:
        self.add_calls((call,), cap)

    def add_calls(self, calls: Iterable[EncodedCall], cap: int) -> None:
        """Finished calls, in arrival order (a batch's, in one loop: this runs per call)."""
        seen, starts, listed = self.seen, self.starts, self.calls
        added: list[EncodedCall] = []
        for call in calls:
            call_id = call.id
            if call_id in seen:
                continue  # a batch sent twice (the sender retried): count each call once
            if len(seen) < 2 * cap:  # far past the cap, memory matters more than duplicates
                seen.add(call_id)
            self.received += 1
            if starts:
                starts.pop(call_id, None)
            if len(listed) + len(added) >= cap:
                self.dropped["maxCallsPerRecap"] += 1
                continue
            added.append(call)
        listed += added
        self.tally.add_all(added)

    def add_unusable_call(self, call_id: str | None, cap: int) -> None:
        """A call's message that broke the contract: received (the `end` counts it, so
        nothing waits for it) but not listed; counted as dropped."""
        if call_id is not None:
            if call_id in self.seen:
                return
            if len(self.seen) < 2 * cap:
                self.seen.add(call_id)
            self.starts.pop(call_id, None)
        self.received += 1
        self.dropped[wire.INVALID_CALL] += 1

    def add_unusable_start(self, call_id: str, cap: int) -> None:
        if call_id not in self.seen and len(self.unusable_starts) < cap:
            self.unusable_starts.add(call_id)

    def count_unfinished(self) -> None:
        """The invocation is over: a call announced only by an unusable start notice and never
        ended is lost (once its `end` arrived, `notReceived` counts it instead)."""
        if self.end is None:
            lost = len(self.unusable_starts - self.seen)
            if lost:
                self.dropped[wire.INVALID_CALL] += lost
        self.unusable_starts = set()

    def add_start(self, call: WireCall, cap: int) -> None:
        call_id = call["id"]
        if call_id in self.seen or len(self.starts) >= cap:
            return
        self.starts[call_id] = call

    def set_end(self, end: EndMessage, now: float) -> None:
        if self.end is None:
            self.end = end
            self.end_at = now

    @property
    def handed_over(self) -> bool:
        """The function process said it was done, and every call it counted has arrived."""
        return self.end is not None and self.received >= self.end["calls"]
