"""Findings: what the execution environment has seen in earlier invocations (extension process).

`slow-call` compares a call with its endpoint's usual durations and `new-connection` needs the
hosts (and ports, and AWS services: `CallFacts.pool`) earlier invocations called. Both are kept
here, across invocations, in bounded memory: the last `SAMPLES` durations of each of the
`ENDPOINTS` endpoints used last, and the `POOLS` pools called last (least recently used first
out).
"""

from __future__ import annotations

from collections import OrderedDict, deque

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

SAMPLES = 100
ENDPOINTS = 256
POOLS = 256
MIN_SAMPLES = 20  # fewer durations than this say nothing about what is usual
PERCENTILE = 0.9


class Durations:
    """An endpoint's last `SAMPLES` durations and, computed when first asked after a change,
    their `PERCENTILE`."""

    __slots__ = ("_baseline", "samples")

    def __init__(self) -> None:
        self.samples: deque[float] = deque(maxlen=SAMPLES)
        self._baseline: float | None = None

    def changed(self) -> None:
        """New `samples` were appended: the percentile is computed again when asked."""
        self._baseline = None

    def baseline(self) -> float | None:
        """The usual duration (ms), or None while too few are known."""
        if len(self.samples) < MIN_SAMPLES:
            return None
        if self._baseline is None:
            ordered = sorted(self.samples)
            self._baseline = ordered[min(int(len(ordered) * PERCENTILE), len(ordered) - 1)]
        return self._baseline


class History:
    """Durations per endpoint and the pools called, across the environment's invocations."""

    __slots__ = ("durations", "pools")

    def __init__(self) -> None:
        self.durations: OrderedDict[str, Durations] = OrderedDict()
        self.pools: OrderedDict[str, None] = OrderedDict()

    def baseline(self, endpoint: str) -> float | None:
        durations = self.durations.get(endpoint)
        return None if durations is None else durations.baseline()

    def _entry(self, endpoint: str) -> Durations:
        """The endpoint's durations, made the most recently used."""
        entry = self.durations.get(endpoint)
        if entry is None:
            entry = self.durations[endpoint] = Durations()
        else:
            self.durations.move_to_end(endpoint)
        return entry

    def knows_pool(self, pool: str) -> bool:
        return pool in self.pools

    def remember(self, durations: Mapping[str, list[float]], pools: Iterable[str]) -> None:
        """One invocation's calls, once its findings are made: each endpoint's durations in
        start order (only the last `SAMPLES` can stay), and the pools called."""
        table = self.durations
        for endpoint, taken in durations.items():
            entry = self._entry(endpoint)
            entry.samples.extend(taken)  # (a deque of `SAMPLES`: it keeps the last ones)
            entry.changed()
        while len(table) > ENDPOINTS:
            table.popitem(last=False)
        for pool in pools:
            self.pools[pool] = None
            self.pools.move_to_end(pool)
            if len(self.pools) > POOLS:
                self.pools.popitem(last=False)
