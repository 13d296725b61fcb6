"""Findings: what the detectors read about the invocation (extension process).

The detectors read the invocation's `Facts` after the response: its calls (each with the
`CallFacts` taken from its wire message when it arrived, call_facts.py, its endpoint among
them) and its outcome.
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.encoded_call import EncodedCall


class Facts:
    """One invocation as the detectors see it: its calls in start order and its outcome."""

    __slots__ = ("_endpoints", "_spans", "calls", "deadline_us", "duration_ms", "http_share",
                 "phase", "started_us", "status")

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
        self._spans: tuple[float, float] | None = None

    @property
    def endpoints(self) -> list[str]:
        """Each call's endpoint, in the order of `calls`."""
        if self._endpoints is None:
            self._endpoints = [call.facts.endpoint for call in self.calls]
        return self._endpoints

    @property
    def spans(self) -> tuple[float, float]:
        """The calls' positive durations summed, and the longest (0 without calls): a
        detector whose threshold no call, or no run of calls, can reach stops there."""
        if self._spans is None:
            total = longest = 0.0
            for call in self.calls:
                duration = call.duration_ms
                if duration > 0.0:
                    total += duration
                    longest = max(longest, duration)
            self._spans = (total, longest)
        return self._spans
