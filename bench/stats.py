"""Statistics for the benchmarks: medians with min..max, paired ratios and differences (dev-time).

Every figure in docs/BENCHMARKS.md is a `Summary` of repeated samples. Comparisons between two
configurations are made pairwise, round by round (both measured in the same round, next to each
other), so slow drift of this shared machine cancels out of the ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median, min and max of some samples (an empty one has NaNs and `count` 0)."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            nan = float("nan")
            return cls(nan, nan, nan, 0)
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def text(self, digits: int = 2, unit: str = "") -> str:
        """`median (min..max)` for a table cell."""
        if self.count == 0:
            return "n/a"
        if self.count == 1:
            return f"{self.median:.{digits}f}{unit}"
        return (f"{self.median:.{digits}f}{unit} ({self.low:.{digits}f}.."
                f"{self.high:.{digits}f})")

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.count}


def ratios(values: Sequence[float], baseline: Sequence[float]) -> Summary:
    """Round-by-round value / baseline, summarised (pairs with a zero baseline are skipped)."""
    return Summary.of([v / b for v, b in zip(values, baseline, strict=True) if b > 0])


def differences(values: Sequence[float], baseline: Sequence[float]) -> Summary:
    """Round-by-round value - baseline, summarised."""
    return Summary.of([v - b for v, b in zip(values, baseline, strict=True)])


def rotated(items: Sequence[str], round_number: int) -> list[str]:
    """`items` starting at a different one each round, so no configuration always goes first."""
    shift = round_number % len(items)
    return [*items[shift:], *items[:shift]]
