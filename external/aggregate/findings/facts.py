"""Findings: what the detectors read about the invocation (extension process).

The detectors read the invocation's `Facts` after the response: its calls (each with the
`CallFacts` taken from its wire message when it arrived, call_facts.py, its endpoint among
them) and its outcome.
"""

from __future__ import annotations

from httprecap.external.aggregate.encoded_call import START_ORDER

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable
    from typing import TypeVar

    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.external.aggregate.findings.call_facts import CallFacts

    Key = TypeVar("Key", bound=Hashable)


class Facts:
    """One invocation as the detectors see it: its calls in start order (`START_ORDER`) and
    its outcome."""

    __slots__ = ("_endpoints", "_extent", "_shared", "calls", "deadline_us", "duration_ms",
                 "http_share", "phase", "started_us", "status")

    def __init__(self, calls: list[EncodedCall], *, started_us: int, duration_ms: float,
                 status: str | None, http_share: float, deadline_us: int | None = None,
                 phase: str = "invoke") -> None:
        self.calls = calls
        self.started_us = started_us
        self.duration_ms = duration_ms
        self.status = status
        self.http_share = http_share
        self.deadline_us = deadline_us
        self.phase = phase
        self._endpoints: list[str] | None = None
        self._shared: list[tuple[CallFacts, list[EncodedCall]]] | None = None
        self._extent: Extent | None = None

    @property
    def endpoints(self) -> list[str]:
        """Each call's endpoint, in the order of `calls`."""
        if self._endpoints is None:
            self._endpoints = [call.facts.endpoint for call in self.calls]
        return self._endpoints

    @property
    def shared(self) -> list[tuple[CallFacts, list[EncodedCall]]]:
        """The calls grouped by the `CallFacts` they share, each group in start order, the
        groups in the order of their first calls."""
        if self._shared is None:
            groups: dict[CallFacts, list[EncodedCall]] = {}  # (by identity)
            for call in self.calls:
                told = call.facts
                group = groups.get(told)
                if group is None:
                    groups[told] = [call]
                else:
                    group.append(call)
            self._shared = list(groups.items())
        return self._shared

    @property
    def extent(self) -> Extent:
        """What the calls reach at most: a detector whose threshold no call, or no run of
        calls, can reach stops there."""
        if self._extent is None:
            self._extent = Extent(self.calls)
        return self._extent

    @property
    def endpoint_count(self) -> int:
        """How many endpoints the calls went to."""
        return len({told.endpoint for told, _ in self.shared})

    @property
    def any_in_flight(self) -> bool:
        """Whether a call was still running at the end (each has facts of its own)."""
        return any(told.in_flight for told, _ in self.shared)


class Extent:
    """The calls' positive durations summed and the longest (ms), when the last one ended
    (µs), and the largest request and response bodies (bytes); 0 without calls."""

    __slots__ = ("last_end_us", "longest_ms", "most_received", "most_sent", "total_ms")

    def __init__(self, calls: list[EncodedCall]) -> None:
        total = longest = last_end = 0.0
        most_sent = most_received = 0
        for call in calls:  # (per call: comparisons cost less than max())
            duration = call.duration_ms
            if duration > 0.0:
                total += duration
                longest = duration if duration > longest else longest
            end = call.begin_us + duration * 1000
            last_end = end if end > last_end else last_end
            sent, received = call.bytes_sent, call.bytes_received
            most_sent = sent if sent > most_sent else most_sent
            most_received = received if received > most_received else most_received
        self.total_ms, self.longest_ms, self.last_end_us = total, longest, last_end
        self.most_sent, self.most_received = most_sent, most_received


def merged(groups: Iterable[tuple[Key, list[EncodedCall]]]) -> dict[Key, list[EncodedCall]]:
    """The calls of the groups under each key, in start order, the keys in the order of
    their first groups (so in the order of their first calls, when the groups come in the
    order of theirs, as `Facts.shared` gives them). A key of one group gets that group's own
    list: read it, never change it (several groups under a key are joined in a new one)."""
    by_key: dict[Key, list[EncodedCall]] = {}
    mixed: set[Key] = set()
    for key, calls in groups:
        have = by_key.get(key)
        if have is None:
            by_key[key] = calls
            continue
        if key not in mixed:
            mixed.add(key)
            have = by_key[key] = list(have)
        have += calls
    for key in mixed:
        by_key[key].sort(key=START_ORDER)
    return by_key
