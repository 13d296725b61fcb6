"""Findings: the detectors, run over one invocation when its recap is built (extension process).

`Findings` holds what the settings chose (which kinds, which thresholds) and the environment's
`History`; `detect` runs each enabled detector over the invocation's `Facts` and returns the
findings, in the order of `DETECTORS`, and the count per kind for `summary.findings`. A
detector that raises is skipped (logged at debug): its findings are missing, the recap is not.
A kind lists at most `MAX_PER_KIND` findings (those about the most calls), so that a recap of
many endpoints stays within a log event's size; `summary.findings` counts them all.
"""

from __future__ import annotations

from httprecap.external import log
from httprecap.external.aggregate.findings.connections import new_connections, no_timeout
from httprecap.external.aggregate.findings.facts import merged
from httprecap.external.aggregate.findings.failures import retries
from httprecap.external.aggregate.findings.finding import Thresholds
from httprecap.external.aggregate.findings.history import SAMPLES, History
from httprecap.external.aggregate.findings.payload import large_payloads
from httprecap.external.aggregate.findings.repeated import identical_calls, repeated_calls
from httprecap.external.aggregate.findings.timing import (
    after_response,
    http_bound,
    sequential_calls,
    slow_calls,
)

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from httprecap.external.aggregate.findings.facts import Facts
    from httprecap.external.aggregate.findings.finding import Finding
    from httprecap.settings import Settings

    Detector = Callable[[Facts, Thresholds, History], list[Finding]]

MAX_PER_KIND = 10

DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("repeated-call", repeated_calls),
    ("identical-call", identical_calls),
    ("sequential-calls", sequential_calls),
    ("retries", retries),
    ("no-timeout", no_timeout),
    ("new-connection", new_connections),
    ("slow-call", slow_calls),
    ("large-payload", large_payloads),
    ("after-response", after_response),
    ("http-bound", http_bound),
)


class Findings:
    """The enabled detectors, their thresholds and what they remember across invocations."""

    __slots__ = ("detectors", "history", "limits")

    def __init__(self, off: Iterable[str] = (), limits: Thresholds | None = None,
                 history: History | None = None) -> None:
        skipped = set(off)
        self.detectors = [(kind, detect) for kind, detect in DETECTORS if kind not in skipped]
        self.limits = limits if limits is not None else Thresholds()
        self.history = history if history is not None else History()

    @classmethod
    def from_settings(cls, settings: Settings) -> Findings | None:
        """The findings HTTPRECAP_FINDINGS* ask for; None when they are off."""
        if not settings.findings:
            return None
        return cls(settings.findings_off, Thresholds.from_settings(settings))

    def detect(self, facts: Facts) -> tuple[list[Finding], dict[str, int]]:
        """The invocation's findings and their count per kind; then remember its calls."""
        found: list[Finding] = []
        counts: dict[str, int] = {}
        for kind, detector in self.detectors:
            try:
                made = detector(facts, self.limits, self.history)
            except Exception as exc:  # a detector's bug costs its findings, never the recap
                log.debug(f"finding {kind} skipped: {type(exc).__name__}: {exc}")
                continue
            if made:
                counts[kind] = len(made)
                if len(made) > MAX_PER_KIND:
                    made = sorted(made, key=_calls_about, reverse=True)[:MAX_PER_KIND]
                found += made
        self._remember(facts)
        return found, counts

    def _remember(self, facts: Facts) -> None:
        try:
            done = [(told, calls) for told, calls in facts.shared
                    if not told.in_flight]  # (cut short: not a duration)
            by_endpoint = merged((told.endpoint, calls) for told, calls in done)
            self.history.remember(
                {endpoint: [call.duration_ms for call in calls[-SAMPLES:]]
                 for endpoint, calls in by_endpoint.items()},
                {told.pool for told, _ in done})
        except Exception as exc:
            log.debug(f"findings' history not kept: {type(exc).__name__}: {exc}")


def _calls_about(finding: Finding) -> int:
    count = finding.get("count")
    return count if isinstance(count, int) else len(finding["callIds"])
