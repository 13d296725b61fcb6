"""Aggregate: everything known about one invocation, keyed by its request id (extension process).

Data about an invocation comes from three places, in any order: the function process's batches
(`start`, `call`, `end`), the Extensions API (INVOKE) and the Telemetry API. An `Invocation`
only records what arrived; `store.Aggregator` decides when it is complete and
`recap.build_recap` turns it into JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Invocation:
    request_id: str
    phase: str  # "invoke", or "init" for the init phase's calls
    touched_at: float  # monotonic time of the latest input, for eviction and extensionMs
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    starts: dict[str, dict[str, Any]] = field(default_factory=dict)  # calls not finished yet
    seen: set[str] = field(default_factory=set)  # ids of the `call`s received (bounded)
    received: int = 0  # distinct `call` messages received, including those the cap dropped
    dropped: Counter[str] = field(default_factory=Counter)
    end: dict[str, Any] | None = None
    end_at: float | None = None
    invoked: bool = False  # an INVOKE event named it
    deadline_at: float | None = None  # monotonic
    deadline_us: int | None = None  # wall clock
    completed_at: float | None = None  # monotonic, when the store found it complete
    invoked_at_us: int | None = None  # wall clock, when the INVOKE was seen
    trace: str | None = None
    platform_start_us: int | None = None
    runtime_done: dict[str, Any] | None = None
    runtime_done_at: float | None = None
    report_status: str | None = None

    @property
    def has_calls(self) -> bool:
        return bool(self.calls or self.starts or self.dropped)

    def add_call(self, call: dict[str, Any], cap: int) -> None:
        call_id = call["id"]
        if call_id in self.seen:
            return  # a batch sent twice (the sender retried): count each call once
        if len(self.seen) < 2 * cap:  # far past the cap, memory matters more than duplicates
            self.seen.add(call_id)
        self.received += 1
        self.starts.pop(call_id, None)
        if len(self.calls) >= cap:
            self.dropped["maxCallsPerRecap"] += 1
            return
        self.calls[call_id] = call

    def add_start(self, call: dict[str, Any], cap: int) -> None:
        call_id = call["id"]
        if call_id in self.seen or len(self.starts) >= cap:
            return
        self.starts[call_id] = call

    def set_end(self, end: dict[str, Any], now: float) -> None:
        if self.end is None:
            self.end = end
            self.end_at = now

    @property
    def handed_over(self) -> bool:
        """The function process said it was done, and every call it counted has arrived."""
        return self.end is not None and self.received >= self.end["calls"]
