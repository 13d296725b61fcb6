"""Findings: `no-timeout` and `new-connection` (extension process; docs/FINDINGS.md).

Both read what a call records only where its client exposes it: `timeoutS` (the effective
timeout, null when unbounded) and `connection` ("new" or "reused"). A call without them says
nothing, so neither detector fires on it.
"""

from __future__ import annotations

from httprecap.external.aggregate.encoded_call import START_ORDER
from httprecap.external.aggregate.findings.facts import merged
from httprecap.external.aggregate.findings.finding import INFO, WARNING, finding, plural

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.external.aggregate.findings.facts import Facts
    from httprecap.external.aggregate.findings.finding import Finding, Thresholds
    from httprecap.external.aggregate.findings.history import History


def no_timeout(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    """Calls with no timeout, or one longer than the function had left when they started."""
    deadline = facts.deadline_us
    unbounded: list[tuple[str, list[EncodedCall]]] = []
    for told, calls in facts.shared:
        if not told.timeout_known:
            continue
        timeout = told.timeout_s
        if timeout is None:
            outliving = calls
        elif deadline is None:
            continue
        else:
            outliving = [call for call in calls
                         if timeout > max(deadline - call.begin_us, 0) / 1e6]
        if outliving:
            unbounded.append((told.host, outliving))
    # A group's calls that outlive it may start after another group's: hosts come in the
    # order of their first such call, as for calls taken one by one.
    unbounded.sort(key=lambda item: START_ORDER(item[1][0]))
    return [_no_timeout(host, calls, deadline) for host, calls in merged(unbounded).items()]


def _no_timeout(host: str, calls: list[EncodedCall], deadline: int | None) -> Finding:
    timeouts = [call.facts.timeout_s for call in calls]
    longest = None if None in timeouts else max(t for t in timeouts if t is not None)
    # What the function had left is least for the call that started last (`calls` are in
    # start order).
    remaining = None if deadline is None else \
        round(max(deadline - calls[-1].begin_us, 0) / 1e6, 3)
    what = "had no timeout" if longest is None else "had a timeout longer than the function's " \
        "remaining time"
    message = f"{plural(len(calls), 'call')} to {host} {what}: one could outlive the function"
    return finding("no-timeout", WARNING, message, calls, host=host, count=len(calls),
                   timeoutS=longest, remainingS=remaining)


def new_connections(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    """New connections where an earlier invocation (or the init) had one to the same host: per
    host and port (and AWS service), when none of the calls that opened the invocation's use
    of it reused a connection. Those are the calls that started before the first one ended;
    later ones may open more for concurrency, or reuse the first's."""
    by_pool = merged((told.pool, calls) for told, calls in facts.shared
                     if told.connection is not None and history.knows_pool(told.pool))
    found = []
    for calls in by_pool.values():
        if _none_reused_at_first(calls):
            found.append(_new_connection(calls[0].facts.host,
                                         [c for c in calls if c.facts.connection == "new"]))
    return found


def _none_reused_at_first(calls: list[EncodedCall]) -> bool:
    """Whether every call that started before the first one ended opened a new connection
    (`calls` in start order)."""
    first_end = calls[0].begin_us + calls[0].duration_ms * 1000
    for number, call in enumerate(calls):
        if number and call.begin_us >= first_end:
            return True
        if call.facts.connection != "new":
            return False
    return True


def _new_connection(host: str, calls: list[EncodedCall]) -> Finding:
    connect = round(sum(call.facts.connect_ms for call in calls), 3)
    message = (f"{plural(len(calls), 'new connection')} to {host}, which an earlier invocation "
               "had: build the client once, outside the handler")
    fields = {"connectMs": connect} if connect else {}
    return finding("new-connection", INFO, message, calls, host=host, count=len(calls),
                   **fields)
