"""Findings: `retries` (extension process; docs/FINDINGS.md): attempts lost to retries and
throttling.

A call's `attempts` list its wire attempts when there were several (redirect hops and
retries). An attempt followed by another was lost when it failed: no answer, a 5xx, a 429,
or, for an AWS call, a 400 (botocore retries a 400 only for throttling and transient errors).
A redirect (3xx) is not lost: it is how the call got where it went.
"""

from __future__ import annotations

from itertools import pairwise

from httprecap.external.aggregate.encoded_call import START_ORDER
from httprecap.external.aggregate.findings.finding import INFO, WARNING, finding, millis, plural

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.external.aggregate.findings.facts import Facts
    from httprecap.external.aggregate.findings.finding import Finding, Thresholds
    from httprecap.external.aggregate.findings.history import History

THROTTLING_ERRORS = frozenset((
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "ProvisionedThroughputExceededException",
    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown",
    "TransactionInProgressException", "LimitExceededException", "BandwidthLimitExceeded"))
STORM_MIN_CALLS = 3


def retries(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    retried: list[EncodedCall] = []
    lost_attempts, throttled, lost_ms = 0, 0, 0.0
    groups = 0  # that `retried` holds calls of
    for told, calls in facts.shared:
        is_throttled = (told.status == 429 or told.error_type in THROTTLING_ERRORS
                        or told.error_code in THROTTLING_ERRORS)
        attempted = len(told.attempts) > 1  # (a call's attempts are its own: groups of one)
        if not attempted and not is_throttled:
            continue
        groups += 1
        for call in calls:
            lost, lost_time = _lost(call) if attempted else (0, 0.0)
            if lost or is_throttled:
                retried.append(call)
                lost_attempts += lost
                lost_ms += lost_time
                throttled += is_throttled
    if not retried:
        return []
    if groups > 1:
        retried.sort(key=START_ORDER)
    storm = (len(facts.calls) >= STORM_MIN_CALLS
             and len(retried) >= limits.retry_storm_share * len(facts.calls))
    return [_retries(retried, calls=len(facts.calls), lost_attempts=lost_attempts,
                     throttled=throttled, lost_ms=round(lost_ms, 3), storm=storm)]


def _retries(retried: list[EncodedCall], *, calls: int, lost_attempts: int, throttled: int,
             lost_ms: float, storm: bool) -> Finding:
    message = (f"{plural(len(retried), 'call')} retried {plural(lost_attempts, 'time')} "
               f"({millis(lost_ms)} lost)")
    if throttled:
        message += f", {throttled:,} throttled"
    if storm:
        message += f": a retry storm, {plural(len(retried), 'call')} of {calls:,}"
    return finding("retries", WARNING if storm or throttled else INFO, message, retried,
                   count=len(retried), retries=lost_attempts, throttled=throttled,
                   lostMs=lost_ms, storm=storm)


def _lost(call: EncodedCall) -> tuple[int, float]:
    """The attempts the call lost, and the time from each one's start to the next one's."""
    attempts = call.facts.attempts
    is_aws = call.facts.aws is not None
    lost, lost_ms = 0, 0.0
    for attempt, following in pairwise(attempts):
        if type(attempt) is dict and _failed(attempt, is_aws):
            lost += 1
            lost_ms += _gap_ms(attempt, following)
    return lost, lost_ms


def _failed(attempt: dict[str, Any], is_aws: bool) -> bool:
    status = attempt.get("status")
    if type(status) is not int:
        return True  # no answer: the attempt raised
    return status >= 500 or status == 429 or (is_aws and status == 400)


def _gap_ms(attempt: dict[str, Any], following: Any) -> float:
    """From the attempt's start to the next one's (the attempt and the back-off after it); its
    own duration when the starts are not both known."""
    start, then = attempt.get("startedAtUs"), following.get("startedAtUs") \
        if type(following) is dict else None
    if type(start) is int and type(then) is int and then >= start:
        return (then - start) / 1000
    duration = attempt.get("durationMs")
    return float(duration) if isinstance(duration, (int, float)) else 0.0
