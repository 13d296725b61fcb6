"""Run loop: the external extension process, from launch to SHUTDOWN (extension process).

Lambda starts `/opt/extensions/httprecap` (wrapper/httprecap-extension), which execs this in
an isolated interpreter. Start-up: listen for the function process's batches, register for
INVOKE and SHUTDOWN, subscribe to platform telemetry, load the sinks; then loop:

    INVOKE R   -> wait until R is complete (its end-of-invocation hand-off, or telemetry, or
                  its deadline; see aggregate/store.py) -> ship R's recap within the budget
                  -> /event/next. The caller already has its response: Lambda returned it
                  when the runtime posted it.
    init error -> the function's init failed (its `end` says so): its init recap ships at once,
                  from a thread of its own, while the run loop still waits for an event
    SHUTDOWN   -> ship what is still open (a timeout or crash leaves a partial recap with its
                  in-flight calls), flush the sinks' retry queues, exit 0 before the deadline.

On Lambda Managed Instances (no INVOKE events, many invocations at once) modes.py runs the
extension instead: SHUTDOWN only, and each recap shipped as soon as its invocation is complete.

Nothing heavy is imported here: sinks load their own dependencies on their worker threads.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

from httprecap import wire
from httprecap.external import log, modes
from httprecap.external.aggregate.encode import load_json
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import Collector
from httprecap.external.lambda_api.extensions import ExtensionsClient, LambdaApiError
from httprecap.external.lambda_api.telemetry import (
    PROMPT_BUFFERING_MS,
    HostLookup,
    start_listener,
    subscribe,
)
from httprecap.external.ship.shipper import Shipper
from httprecap.external.ship.sinks import build_sinks
from httprecap.settings import Settings

# Start-up budget: names from `typing` and `collections.abc` are for mypy only (see http11).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from httprecap.external.aggregate.encode import Recap
    from httprecap.external.lambda_api.extensions import Registration

SHUTDOWN_MARGIN_S = 0.25  # leave this much of the SHUTDOWN deadline unused: SIGKILL follows it
INIT_ERROR_TYPE = "Extension.HttprecapStartFailed"
WRAPPER_NAME = "httprecap-wrapper"


class StartupError(Exception):
    """Start-up failed after registration; Lambda has been told through /extension/init/error."""


class Extension:
    """The started extension: everything the run loop needs."""

    __slots__ = ("aggregator", "client", "collector", "current", "settings", "shipper")

    def __init__(self, client: ExtensionsClient, settings: Settings, aggregator: Aggregator,
                 collector: Collector, shipper: Shipper) -> None:
        self.client = client
        self.settings = settings
        self.aggregator = aggregator
        self.collector = collector
        self.shipper = shipper
        self.current: str | None = None  # the invocation in progress, for SHUTDOWN

    def run(self) -> int:
        while True:
            event = self.client.next_event()
            if event["eventType"] == "SHUTDOWN":
                self.on_shutdown(event)
                return 0
            try:
                self.on_invoke(event)
            except Exception as exc:  # one lost recap, never a crashed extension (= a reset)
                log.error(f"recap of {event.get('requestId')} lost: {type(exc).__name__}: {exc}")

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

    def ship(self, recaps: list[Recap], budget_s: float) -> None:
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


def _subscribe_telemetry(client: ExtensionsClient, port: int, aggregator: Aggregator,
                         lookup: HostLookup, *, schema: str, buffering_ms: int) -> bool:
    try:
        listener = start_listener(lookup, port, aggregator.apply_telemetry)
    except OSError as exc:
        log.warning(f"cannot listen for telemetry on port {port} ({exc}); carrying on without")
        return False
    try:
        return subscribe(client, port, schema, buffering_ms)
    except LambdaApiError as exc:
        log.warning(f"{exc}; carrying on without telemetry")
        listener.stop()
        return False


def _wrapper_is_set(environ: Mapping[str, str]) -> bool:
    """Extensions see the function's variables, so we know whether our wrapper runs."""
    return os.path.basename(environ.get("AWS_LAMBDA_EXEC_WRAPPER", "")) == WRAPPER_NAME


def start(client: ExtensionsClient, settings: Settings, environ: Mapping[str, str]) -> Extension:
    """Listen, register, subscribe, load the sinks. Raises LambdaApiError or StartupError."""
    lookup = HostLookup().start()  # resolves while we register
    aggregator = Aggregator(settings.max_calls_per_recap)
    modes.configure(aggregator, environ)
    wrapper_set = _wrapper_is_set(environ)
    if wrapper_set:
        aggregator.expect_internal()
    collector = Collector(aggregator)
    problem = None
    try:
        collector.listen(settings.port)
    except OSError as exc:
        problem = f"cannot listen on 127.0.0.1:{settings.port} ({exc.strerror}); " \
                  "set HTTPRECAP_PORT to a free port"
    registration = client.register(modes.events(environ))
    try:
        if problem:
            raise StartupError(problem)
        client.while_waiting = lambda: _warm_up(aggregator, registration)
        buffering_ms = modes.telemetry_buffering_ms(environ, wrapper_set)
        aggregator.telemetry_active = _subscribe_telemetry(
            client, settings.telemetry_port, aggregator, lookup, schema=modes.schema(environ),
            buffering_ms=buffering_ms)
        aggregator.telemetry_prompt = buffering_ms == PROMPT_BUFFERING_MS
        sinks, warnings = build_sinks(settings.sinks, settings.http_headers, environ)
        for warning in warnings:
            log.warning(warning)
        shipper = Shipper(sinks, settings.retry_queue)
    except Exception as exc:
        message = str(exc) if isinstance(exc, StartupError) else f"{type(exc).__name__}: {exc}"
        log.error(f"cannot start: {message}")
        client.init_error(INIT_ERROR_TYPE, message)
        raise StartupError(message) from exc
    extension = Extension(client, settings, aggregator, collector, shipper)
    aggregator.on_init_failed = extension.on_init_failed
    return extension


def _warm_up(aggregator: Aggregator, registration: Registration) -> None:
    """What start-up left for later, done once the first /event/next is on the wire: Lambda
    is still initialising the runtime then (see lambda_api/extensions.py)."""
    collect_garbage()
    load_json()
    aggregator.function_name = registration.function_name
    aggregator.function_version = registration.function_version


def collect_garbage() -> None:
    """Turn the cyclic garbage collector back on if the launcher turned it off for start-up.
    What start-up made (modules, classes, the started components) lives until SHUTDOWN, so it
    is frozen first: later collections never scan it again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def idle(client: ExtensionsClient) -> int:
    """HTTPRECAP_DISABLED: register for SHUTDOWN only (Lambda never waits for us) and wait."""
    collect_garbage()
    client.register(("SHUTDOWN",))
    while client.next_event()["eventType"] != "SHUTDOWN":
        pass
    return 0


def main(name: str = "httprecap") -> int:
    """Entry point; `name` is the launcher's file name, which Lambda knows us by."""
    environ = dict(os.environ)
    settings = Settings.from_environ(environ)
    log.configure(str(settings.log_level))
    for warning in settings.warnings:
        log.warning(warning)
    runtime_api = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not runtime_api:
        log.error("AWS_LAMBDA_RUNTIME_API is not set: this runs as a Lambda extension only")
        return 1
    try:
        client = ExtensionsClient(runtime_api, name)
        if settings.disabled:
            return idle(client)
        return modes.run(start(client, settings, environ), environ)
    except LambdaApiError as exc:
        if "Extension.InvalidEventType" not in str(exc) or client.extension_id:
            log.error(str(exc))
            return 1
        # Lambda Managed Instances refuse INVOKE to external extensions; exiting would fail
        # the function's init, so stay registered for SHUTDOWN only and do nothing.
        log.warning("this platform sends no INVOKE events to extensions (Lambda Managed "
                    "Instances?); httprecap ships no recaps here")
        return idle(client)
    except StartupError as exc:
        log.error(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
