"""Aggregate: when an invocation is complete, the rules in one place (extension process).

A recap ships once its invocation is complete. For invocation R, checked in this order:
  1. `handoff`      its `end` arrived and every call the `end` counts has arrived;
     `processGone`  the process running R died before R's `end` (the collector saw its
                    connection close and the process gone): R is a `failure`, shipped at once;
  2. `callsMissing` its `end` arrived but some counted calls did not come within the hand-off
                    timeout (they are reported as dropped `notReceived`);
  3. `runtimeDone`  telemetry says the runtime finished R, and either no internal extension is
                    active or no `end` came within the hand-off timeout;
  4. `noSource`     no internal extension and no Telemetry API: nothing will ever tell;
     `silent`       the wrapper is set but its internal extension has not spoken (rule 3
                    found out, once), and telemetry is relaxed (up to a second late): the
                    recap has no calls to wait for, so it ships at once, with its hint,
                    rather than bill the function the wait;
  5. `deadline`     R's deadline passed (the function timed out). If the internal extension
                    was expected but never spoke, it is no longer waited for.
On Lambda Managed Instances an invocation nothing was heard of for a long time is complete too
(`stale`, see store.py's `wait_completed`).

`check` reads the invocation and what the aggregator knows of the sources (`Sources`); its one
effect is to stop expecting an internal extension that has proved silent, so that waiting for
it is paid once per environment, not on every invocation.
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Protocol

    from httprecap.external.aggregate.invocation_state import Invocation

    class Sources(Protocol):
        """What can tell that an invocation is complete (the `Aggregator`'s own flags)."""

        internal_active: bool  # a batch from the function process arrived
        internal_expected: bool  # our wrapper is set and has not proved silent
        wrapper_set: bool
        telemetry_active: bool  # the Telemetry API delivers to us
        telemetry_prompt: bool  # ... with the shortest buffering

# A process gone this close to its invocation's deadline was killed for the timeout (our
# deadline, from the INVOKE, trails Lambda's by the event's delivery).
KILLED_AT_DEADLINE_S = 0.1


def check(inv: Invocation, sources: Sources, handoff_s: float,
          now: float) -> tuple[str | None, float | None]:
    """(reason, None) once `inv` is complete, else (None, the monotonic time to check again)."""
    if inv.handed_over:
        return "handoff", None
    if inv.gone:
        if inv.deadline_at is not None and now >= inv.deadline_at - KILLED_AT_DEADLINE_S:
            return "deadline", None  # killed for its timeout, not crashed
        return "processGone", None
    wakes: list[float] = []
    if inv.end is not None and inv.end_at is not None:
        if now >= inv.end_at + handoff_s:
            return "callsMissing", None
        wakes.append(inv.end_at + handoff_s)
    internal = sources.internal_active or sources.internal_expected
    if inv.runtime_done_at is not None:
        if not internal:
            return "runtimeDone", None
        if inv.end is None:
            if now >= inv.runtime_done_at + handoff_s:
                # Never spoke (the wrapper is set but the function process did not load
                # us): waiting the hand-off timeout again would bill every invocation.
                sources.internal_expected = sources.internal_active
                return "runtimeDone", None
            wakes.append(inv.runtime_done_at + handoff_s)
    if not internal and not sources.telemetry_active:
        return "noSource", None
    if not internal and sources.wrapper_set and not sources.telemetry_prompt:
        return "silent", None
    if inv.deadline_at is not None:
        if now >= inv.deadline_at:
            sources.internal_expected = sources.internal_active  # silent so far: stop waiting
            return "deadline", None
        wakes.append(inv.deadline_at)
    return None, min(wakes, default=None)
