"""Findings: one finding as the recap lists it, and the thresholds the detectors use
(extension process).

A finding is a plain dict in the recap's field order (docs/FINDINGS.md, *A finding*): `kind`,
`severity`, `message`, `callIds`, then the fields of its kind.
"""

from __future__ import annotations

from itertools import islice

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.settings import Settings

    Finding = dict[str, Any]

WARNING = "warning"
INFO = "info"
MAX_CALL_IDS = 100  # a finding about thousands of calls names the first hundred


def finding(kind: str, severity: str, message: str, calls: Iterable[EncodedCall],
            **fields: Any) -> Finding:
    ids = [call.id for call in islice(calls, MAX_CALL_IDS)]
    return {"kind": kind, "severity": severity, "message": message, "callIds": ids, **fields}


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def millis(value: float) -> str:
    """`1,204.0 ms`: the message's way of writing a duration."""
    return f"{value:,.1f} ms"


def percent(share: float) -> str:
    return f"{share:.0%}"


class Thresholds:
    """The detectors' thresholds, from the HTTPRECAP_FINDINGS_* settings (docs/FINDINGS.md)."""

    __slots__ = ("http_ms", "http_share", "identical_min", "large_bytes", "repeated_min",
                 "retry_storm_share", "sequential_ms", "sequential_share", "slow_factor",
                 "slow_ms")

    def __init__(self, *, repeated_min: int = 5, identical_min: int = 2,
                 sequential_ms: float = 100, sequential_share: float = 0.1,
                 retry_storm_share: float = 0.5, slow_ms: float = 100,
                 slow_factor: float = 3.0, large_bytes: int = 1 << 20,
                 http_share: float = 0.8, http_ms: float = 100) -> None:
        self.repeated_min = repeated_min
        self.identical_min = identical_min
        self.sequential_ms = sequential_ms
        self.sequential_share = sequential_share
        self.retry_storm_share = retry_storm_share
        self.slow_ms = slow_ms
        self.slow_factor = slow_factor
        self.large_bytes = large_bytes
        self.http_share = http_share
        self.http_ms = http_ms

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(**{name: getattr(settings, f"findings_{name}") for name in cls.__slots__})
