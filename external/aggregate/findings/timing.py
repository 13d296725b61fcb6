"""Findings: `sequential-calls`, `slow-call`, `after-response` and `http-bound` (extension
process; docs/FINDINGS.md): what the calls' timing says.
"""

from __future__ import annotations

from httprecap.external.aggregate.findings.finding import (
    INFO,
    WARNING,
    finding,
    millis,
    percent,
    plural,
)

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.external.aggregate.findings.facts import Facts
    from httprecap.external.aggregate.findings.finding import Finding, Thresholds
    from httprecap.external.aggregate.findings.history import History

# Answers that send the client on to another URL (not 304 Not Modified: nothing follows it).
REDIRECTS = frozenset((301, 302, 303, 307, 308))
# Clocks of different processes and rounding to microseconds: a call ending this close to the
# response is not after it.
AFTER_SLACK_MS = 1.0


def sequential_calls(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    """Runs of calls that neither overlapped nor shared an endpoint (calls in start order). A
    call answered with a redirect ends its run: the call after it follows the redirect."""
    if facts.extent.total_ms < limits.sequential_ms or facts.endpoint_count < 2:
        return []  # no run of them could save as much, or have two calls
    found = []
    calls = facts.calls
    first = 0  # the run is calls[first:number]
    seen: dict[str, int] = {}  # endpoint -> the first call of the run it was last in
    reach = 0.0  # when the run's latest call ended (µs)
    total = 0.0  # the run's durations summed: less than the threshold, nothing to save
    least = limits.sequential_ms
    follows = False  # the call before was answered with a redirect
    # This runs for every call: what it reads is read once.
    for number, (call, endpoint) in enumerate(zip(calls, facts.endpoints, strict=True)):
        told, begin = call.facts, call.begin_us
        apart = told.apart
        if apart or follows or begin < reach or seen.get(endpoint) == first:
            if total >= least:
                found += _sequential(calls[first:number], facts, limits)
            first, total = number, 0.0
            if apart:
                first, reach, follows = number + 1, 0.0, False
                continue
        follows = told.status in REDIRECTS
        seen[endpoint] = first
        duration = call.duration_ms
        total += duration
        reach = max(reach, begin + duration * 1000)
    return found + _sequential(calls[first:], facts, limits)


def _sequential(run: list[EncodedCall], facts: Facts, limits: Thresholds) -> list[Finding]:
    if len(run) < 2 or facts.duration_ms <= 0:
        return []
    durations = [call.duration_ms for call in run]
    saved = round(sum(durations) - max(durations), 3)
    share = round(saved / facts.duration_ms, 3)
    if saved < limits.sequential_ms or share < limits.sequential_share:
        return []
    message = (f"{len(run):,} independent calls ran one after another: running them "
               f"concurrently would save {millis(saved)} ({percent(share)} of the invocation)")
    return [finding("sequential-calls", WARNING, message, run, count=len(run), savedMs=saved,
                    share=share)]


def slow_calls(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    """Calls far above their endpoint's usual duration in this environment."""
    floor = limits.slow_ms
    if facts.extent.longest_ms < floor:
        return []  # no call is slow enough to compare
    slow: dict[str, tuple[float, list[EncodedCall]]] = {}
    for call, endpoint in zip(facts.calls, facts.endpoints, strict=True):
        if call.duration_ms < floor or call.facts.in_flight:
            continue
        baseline = history.baseline(endpoint)
        if baseline is not None and call.duration_ms > limits.slow_factor * baseline:
            slow.setdefault(endpoint, (baseline, []))[1].append(call)
    return [_slow(endpoint, baseline, calls) for endpoint, (baseline, calls) in slow.items()]


def _slow(endpoint: str, baseline: float, calls: list[EncodedCall]) -> Finding:
    longest = max(call.duration_ms for call in calls)
    message = (f"{endpoint} took {millis(longest)}, against {millis(baseline)} usually (p90)"
               if len(calls) == 1 else
               f"{len(calls):,} calls to {endpoint} took up to {millis(longest)}, against "
               f"{millis(baseline)} usually (p90)")
    return finding("slow-call", INFO, message, calls, endpoint=endpoint, count=len(calls),
                   durationMs=longest, baselineMs=baseline)


def after_response(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    """Calls running when the response was sent, or started after it."""
    if facts.status not in ("success", "error") or facts.phase != "invoke":
        return []
    end_us = facts.started_us + (facts.duration_ms + AFTER_SLACK_MS) * 1000
    if facts.extent.last_end_us <= end_us and not facts.any_in_flight:
        return []  # every call ended in time
    late = [call for call in facts.calls
            if call.facts.in_flight or call.begin_us + call.duration_ms * 1000 > end_us]
    if not late:
        return []
    running = sum(call.facts.in_flight for call in late)
    verb = "was" if len(late) == 1 else "were"
    message = (f"{plural(len(late), 'call')} {verb} still running when the response was sent, "
               "or started after it: Lambda may freeze them")
    return [finding("after-response", WARNING, message, late, count=len(late),
                    running=running)]


def http_bound(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    """The invocation mostly waited on HTTP."""
    share, duration = facts.http_share, facts.duration_ms
    if share < limits.http_share or duration < limits.http_ms or not facts.calls:
        return []
    message = f"{percent(share)} of the invocation's {millis(duration)} was spent waiting on HTTP"
    return [finding("http-bound", INFO, message, (), httpShare=share, durationMs=duration)]
