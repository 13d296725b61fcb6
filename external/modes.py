"""Modes: classic Lambda or Lambda Managed Instances, and the run loop of the latter
(extension process).

Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`) run
several invocations at once in one environment and send external extensions no INVOKE
(reference section 7). There the extension

- registers for SHUTDOWN only (INVOKE would be refused with 403 Extension.InvalidEventType);
- subscribes to telemetry with schema 2025-01-29, the only one LMI accepts;
- keys everything by request id (as always) and ships each recap from a background thread as
  soon as *that* invocation is complete: its `end` hand-off with every counted call, or its
  `platform.report` (after the hand-off timeout, when the internal extension is active), or,
  when nothing speaks for STALE_S, as it stands. Unrelated invocations never hold it up;
  under load the thread rests COALESCE_S after each round, so what completes meanwhile ships
  in one round;
- on SHUTDOWN stops that thread, ships whatever is still open and flushes the sinks.

Classic Lambda keeps the INVOKE-driven loop of main.py.
"""

from __future__ import annotations

import threading

from httprecap.external import log
from httprecap.external.lambda_api.telemetry import (
    PROMPT_BUFFERING_MS,
    RELAXED_BUFFERING_MS,
    SCHEMA_VERSION,
)

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from httprecap.external.aggregate.store import Aggregator
    from httprecap.external.main import Extension

MANAGED_INIT_TYPE = "lambda-managed-instances"
MANAGED_SCHEMA = "2025-01-29"
CLASSIC_EVENTS = ("INVOKE", "SHUTDOWN")
MANAGED_EVENTS = ("SHUTDOWN",)
# Invocations open at once: LMI runs up to 64 per vCPU; past this the oldest are evicted.
MANAGED_MAX_OPEN = 4096
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


def is_managed(environ: Mapping[str, str]) -> bool:
    return environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == MANAGED_INIT_TYPE


def events(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The events to register for."""
    return MANAGED_EVENTS if is_managed(environ) else CLASSIC_EVENTS


def schema(environ: Mapping[str, str]) -> str:
    """The Telemetry API schema version to subscribe with."""
    return MANAGED_SCHEMA if is_managed(environ) else SCHEMA_VERSION


def telemetry_buffering_ms(environ: Mapping[str, str], wrapper_set: bool) -> int:
    """How long Lambda may hold telemetry for us (see lambda_api/telemetry.py).

    Relaxed only where the function process's hand-off tells when each invocation ends: our
    wrapper is set, on classic Lambda. Without it `runtimeDone` is that signal, and on Lambda
    Managed Instances `platform.start` is what says an invocation exists at all.
    """
    if wrapper_set and not is_managed(environ):
        return RELAXED_BUFFERING_MS
    return PROMPT_BUFFERING_MS


def configure(aggregator: Aggregator, environ: Mapping[str, str]) -> None:
    if is_managed(environ):
        aggregator.max_open = MANAGED_MAX_OPEN


def run(extension: Extension, environ: Mapping[str, str]) -> int:
    """The run loop for this mode; returns the process's exit code."""
    if is_managed(environ):
        return ManagedLoop(extension).run()
    return extension.run()


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
        recaps: list[Any] = []
        debug = log.enabled("debug")
        for request_id, reason in done:
            if debug:
                log.debug(f"{request_id} complete ({reason})")
            recaps += aggregator.take(request_id, deadline_passed=reason == "stale")
        if recaps:
            self.extension.ship(recaps, settings.ship_budget_ms / 1000)
        return len(done)
