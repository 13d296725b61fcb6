"""Lifecycle: the run loop on Lambda Managed Instances (extension process).

There no INVOKE comes and many invocations run at once (see mode.py). Everything is keyed by
request id (as always), and each recap ships from a background thread as soon as *that*
invocation is complete: its `end` hand-off with every counted call, or its `platform.report`
(after the hand-off timeout, when the internal extension is active), or, when nothing speaks
for STALE_S, as it stands. Unrelated invocations never hold it up; under load the thread rests
COALESCE_S after each round, so what completes meanwhile ships in one round. On SHUTDOWN the
thread stops, and the extension ships whatever is still open and flushes the sinks.
"""

from __future__ import annotations

import threading

from httprecap.external import log

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.extension import Extension

# Lambda's longest function timeout: an invocation silent for this long will not speak again.
STALE_S = 900.0
# How long the ship loop sleeps when nothing is open (it is woken by any input anyway).
IDLE_S = 60.0
# After a round that shipped, the ship loop rests this long: what completes meanwhile goes
# out together in the next round. Each round wakes the ship loop and every sink's worker (the
# file sink opens, writes and closes its file), and on LMI that CPU is taken from the
# invocations in flight: under load, rounds of one recap each cost about twice the CPU. A
# recap after a quiet spell still ships at once.
COALESCE_S = 0.05


class ManagedLoop:
    """SHUTDOWN on the main thread; recaps shipped by a thread of their own as they complete."""

    def __init__(self, extension: Extension) -> None:
        self.extension = extension
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ship_loop, name="httprecap-ship-loop",
                                        daemon=True)

    def run(self) -> int:
        self._thread.start()
        event = self.extension.client.next_event()
        while event["eventType"] != "SHUTDOWN":  # LMI sends nothing else; ignore it if it did
            event = self.extension.client.next_event()
        self.stop()
        self.extension.on_shutdown(event)
        return 0

    def stop(self) -> None:
        """End the ship loop; a round under way finishes (within the ship budget) first."""
        self._stop.set()
        # An empty telemetry delivery changes nothing but wakes the thread waiting on it.
        self.extension.aggregator.apply_telemetry([])
        budget_s = self.extension.settings.ship_budget_ms / 1000
        self._thread.join(budget_s + 0.5)

    def _ship_loop(self) -> None:
        while not self._stop.is_set():
            try:
                shipped = self.ship_completed(IDLE_S)
            except Exception as exc:  # one lost round of recaps, never a dead ship loop
                log.error(f"shipping failed: {type(exc).__name__}: {exc}")
                shipped = 0
            if shipped:
                self._stop.wait(COALESCE_S)  # SHUTDOWN (stop) ends the rest at once

    def ship_completed(self, wait_s: float) -> int:
        """Ship every invocation complete now (waiting up to `wait_s` for one); how many."""
        settings = self.extension.settings
        aggregator = self.extension.aggregator
        done = aggregator.wait_completed(settings.handoff_timeout_ms / 1000, STALE_S, wait_s)
        if self._stop.is_set():
            return 0  # SHUTDOWN takes everything from here
        recaps: list[EncodedRecap] = []
        debug = log.enabled("debug")
        for request_id, reason in done:
            if debug:
                log.debug(f"{request_id} complete ({reason})")
            recaps += aggregator.take(request_id, deadline_passed=reason == "stale")
        if recaps:
            self.extension.ship(recaps, settings.ship_budget_ms / 1000)
        return len(done)
