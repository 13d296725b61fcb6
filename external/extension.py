"""Lifecycle: the started extension and what each event does to it (extension process).

`main.start` builds an `Extension` from its parts (aggregator, collector, shipper); the run
loops in main.py and managed.py hand it the events:

    INVOKE R   -> wait until R is complete (its end-of-invocation hand-off, or telemetry, or
                  its deadline; see aggregate/store.py) -> ship R's recap within the budget.
                  The caller already has its response: Lambda returned it when the runtime
                  posted it.
    init error -> the function's init failed (its `end` says so): its init recap ships at once,
                  from a thread of its own, while the run loop still waits for an event
    SHUTDOWN   -> ship what is still open (a timeout or crash leaves a partial recap with its
                  in-flight calls), flush the sinks' retry queues, before the deadline.
"""

from __future__ import annotations

import threading
import time

from httprecap import wire
from httprecap.external import log

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.aggregate.store import Aggregator
    from httprecap.external.collect.collector import Collector
    from httprecap.external.lambda_api.extensions import ExtensionsClient
    from httprecap.external.ship.shipper import Shipper
    from httprecap.settings import Settings

SHUTDOWN_MARGIN_S = 0.25  # leave this much of the SHUTDOWN deadline unused: SIGKILL follows it


class Extension:
    """The started extension: everything the run loops need."""

    __slots__ = ("aggregator", "client", "collector", "current", "settings", "shipper")

    def __init__(self, client: ExtensionsClient, settings: Settings, aggregator: Aggregator,
                 collector: Collector, shipper: Shipper) -> None:
        self.client = client
        self.settings = settings
        self.aggregator = aggregator
        self.collector = collector
        self.shipper = shipper
        self.current: str | None = None  # the invocation in progress, for SHUTDOWN

    def on_invoke(self, event: Mapping[str, Any]) -> None:
        request_id = self.current = self.aggregator.on_invoke(event)
        reason = self.aggregator.wait_complete(request_id,
                                               self.settings.handoff_timeout_ms / 1000)
        log.debug(f"{request_id} complete ({reason})")
        recaps = self.aggregator.take(request_id, deadline_passed=reason == "deadline")
        self.ship(recaps, self.settings.ship_budget_ms / 1000)

    def on_init_failed(self) -> None:
        """The runtime is about to exit with an init error: ship the init recap now (its
        calls may be all this environment ever shows), not at an event that may never come."""
        threading.Thread(target=self._ship_failed_init, name="httprecap-init-error",
                         daemon=True).start()

    def _ship_failed_init(self) -> None:
        try:
            handoff_s = self.settings.handoff_timeout_ms / 1000
            reason = self.aggregator.wait_complete(wire.INIT_REQUEST_ID, handoff_s)
            log.debug(f"init complete ({reason}): it failed")
            self.ship(self.aggregator.take_init(), self.settings.ship_budget_ms / 1000)
        except Exception as exc:
            log.error(f"init recap lost: {type(exc).__name__}: {exc}")

    def ship(self, recaps: list[EncodedRecap], budget_s: float) -> None:
        for recap in recaps:
            if recap.get("hint"):
                log.warning(recap["hint"])
        self.shipper.ship(recaps, budget_s)
        self.aggregator.carry(self.shipper.take_losses())

    def on_shutdown(self, event: Mapping[str, Any]) -> None:
        reason = str(event.get("shutdownReason", "")).lower()
        deadline = _monotonic_deadline(event.get("deadlineMs"))
        status = reason if reason in ("timeout", "failure") else None
        recaps = self.aggregator.take_all(current=self.current, status=status)
        # The open recaps first, with half the time; then every retry queue, with the rest.
        self.ship(recaps, max((deadline - time.monotonic()) / 2, 0.0))
        left = self.shipper.flush(deadline)
        for sink, count in left.items():
            log.warning(f"sink {sink}: {count} recap(s) not delivered before shutdown")
        rejected = self.collector.rejected
        if rejected:
            log.info(f"batches refused by the collector: {dict(rejected)}")
        self.shipper.stop()


def _monotonic_deadline(deadline_ms: Any) -> float:
    """Our own deadline for SHUTDOWN work, on the monotonic clock, with a safety margin."""
    now = time.monotonic()
    if not isinstance(deadline_ms, (int, float)):
        return now + 1.0
    remaining = deadline_ms / 1000 - time.time()
    return now + max(remaining - min(SHUTDOWN_MARGIN_S, remaining * 0.2), 0.0)
