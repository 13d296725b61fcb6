"""Lifecycle: the external extension process, from launch to SHUTDOWN (extension process).

Lambda starts `/opt/extensions/httprecap` (wrapper/httprecap-extension), which execs this in
an isolated interpreter. The lifecycle, top to bottom (docs/PROTOCOL.md, 2 and 3):

    read the mode once  -> classic Lambda or Lambda Managed Instances (mode.py)
    listen              -> the collector, for the function process's batches (before
                           registering: the runtime's init starts once every extension has)
    register            -> for INVOKE and SHUTDOWN (SHUTDOWN only on Managed Instances)
    subscribe           -> platform telemetry, delivered to a listener of ours
    load the sinks      -> then the loop: INVOKE after INVOKE until SHUTDOWN (the events'
                           effects are in extension.py), or, on Managed Instances, SHUTDOWN
                           while recaps ship as invocations complete (managed.py)

A failure after registration is reported through /extension/init/error. Nothing heavy is
imported here: sinks load their own dependencies on their worker threads.
"""

from __future__ import annotations

import gc
import os
import sys

from httprecap.external import log
from httprecap.external.aggregate.encode import load_json
from httprecap.external.aggregate.findings.registry import Findings
from httprecap.external.aggregate.function_context import FunctionFacts
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import Collector
from httprecap.external.extension import Extension
from httprecap.external.lambda_api.extensions import (
    ExtensionsClient,
    InvalidEventType,
    LambdaApiError,
)
from httprecap.external.lambda_api.telemetry import HostLookup, start_listener, subscribe
from httprecap.external.managed import ManagedLoop
from httprecap.external.mode import Mode
from httprecap.external.ship.keep import keep_policy
from httprecap.external.ship.registry import build_sinks
from httprecap.external.ship.shipper import Shipper
from httprecap.settings import Settings

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping

    from httprecap.external.lambda_api.extensions import Registration

INIT_ERROR_TYPE = "Extension.HttprecapStartFailed"


class StartupError(Exception):
    """Start-up failed after registration; Lambda has been told through /extension/init/error."""


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
        mode = Mode.from_environ(environ)
        return loop(start(client, settings, mode, environ), mode)
    except InvalidEventType as exc:
        if client.extension_id:
            log.error(str(exc))
            return 1
        # Lambda Managed Instances refuse INVOKE to external extensions; exiting would fail
        # the function's init, so stay registered for SHUTDOWN only and do nothing.
        log.warning("this platform sends no INVOKE events to extensions (Lambda Managed "
                    "Instances?); httprecap ships no recaps here")
        return idle(client)
    except (LambdaApiError, StartupError) as exc:
        log.error(str(exc))
        return 1


def start(client: ExtensionsClient, settings: Settings, mode: Mode,
          environ: Mapping[str, str]) -> Extension:
    """Listen, register, subscribe, load the sinks. Raises LambdaApiError or StartupError."""
    lookup = HostLookup().start()  # resolves while we register
    aggregator = Aggregator(settings.max_calls_per_recap, max_open=mode.max_open,
                            wrapper_set=mode.wrapper_set, telemetry_prompt=mode.telemetry_prompt,
                            findings=Findings.from_settings(settings),
                            facts=FunctionFacts.from_environ(environ),
                            levels=(settings.recap_level, settings.recap_error_level))
    collector = Collector(aggregator)
    problem = _listen(collector, settings.port)
    registration = client.register(mode.events)
    try:
        if problem:
            raise StartupError(problem)
        client.while_waiting = lambda: _warm_up(aggregator, registration)
        aggregator.telemetry_subscribed(_subscribe_telemetry(
            client, settings.telemetry_port, aggregator, lookup, mode))
        sinks, warnings = build_sinks(settings.sinks, settings.http_headers, environ)
        for warning in warnings:
            log.warning(warning)
        shipper = Shipper(sinks, settings.retry_queue,
                          keep=keep_policy(settings.keep, settings.keep_slow_ms))
    except Exception as exc:
        message = str(exc) if isinstance(exc, StartupError) else f"{type(exc).__name__}: {exc}"
        log.error(f"cannot start: {message}")
        client.init_error(INIT_ERROR_TYPE, message)
        raise StartupError(message) from exc
    extension = Extension(client, settings, aggregator, collector, shipper)
    aggregator.when_init_fails(extension.on_init_failed)
    return extension


def loop(extension: Extension, mode: Mode) -> int:
    """The run loop for this mode; returns the process's exit code."""
    if mode.managed:
        return ManagedLoop(extension).run()
    return invoke_loop(extension)


def invoke_loop(extension: Extension) -> int:
    """Classic Lambda: INVOKE after INVOKE (one recap each), until SHUTDOWN."""
    while True:
        event = extension.client.next_event()
        if event["eventType"] == "SHUTDOWN":
            extension.on_shutdown(event)
            return 0
        try:
            extension.on_invoke(event)
        except Exception as exc:  # one lost recap, never a crashed extension (= a reset)
            log.error(f"recap of {event.get('requestId')} lost: {type(exc).__name__}: {exc}")


def idle(client: ExtensionsClient) -> int:
    """HTTPRECAP_DISABLED: register for SHUTDOWN only (Lambda never waits for us) and wait."""
    collect_garbage()
    client.register(("SHUTDOWN",))
    while client.next_event()["eventType"] != "SHUTDOWN":
        pass
    return 0


def _listen(collector: Collector, port: int) -> str | None:
    """Start the collector; the problem to report once registered, if it cannot listen."""
    try:
        collector.listen(port)
    except OSError as exc:
        return f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); " \
               "set HTTPRECAP_PORT to a free port"
    return None


def _subscribe_telemetry(client: ExtensionsClient, port: int, aggregator: Aggregator,
                         lookup: HostLookup, mode: Mode) -> bool:
    try:
        listener = start_listener(lookup, port, aggregator.apply_telemetry)
    except OSError as exc:
        log.warning(f"cannot listen for telemetry on port {port} ({exc}); carrying on without")
        return False
    try:
        return subscribe(client, port, mode.schema, mode.telemetry_buffering_ms)
    except LambdaApiError as exc:
        log.warning(f"{exc}; carrying on without telemetry")
        listener.stop()
        return False


def _warm_up(aggregator: Aggregator, registration: Registration) -> None:
    """What start-up left for later, done once the first /event/next is on the wire: Lambda
    is still initialising the runtime then (see lambda_api/extensions.py)."""
    collect_garbage()
    load_json()
    aggregator.identify_function(registration.function_name, registration.function_version)


def collect_garbage() -> None:
    """Turn the cyclic garbage collector back on if the launcher turned it off for start-up.
    What start-up made (modules, classes, the started components) lives until SHUTDOWN, so it
    is frozen first: later collections never scan it again.

    A collection starts when the objects alive at once outnumber the threshold, and the
    objects alive at once are a recap being built (a few per call, none of them garbage: they
    are freed by reference counting once it ships). Python's default of 700 sets off a
    collection in one 100-call invocation out of three, and dozens in a 10,000-call one, each
    scanning the recap's objects in vain after the response, on caches the function has just
    used (0.3 ms each; up to 4 ms when an older generation's turn comes). `GC_THRESHOLD` is
    above what a 10,000-call recap holds: collections are left to the rare cyclic garbage."""
    if not gc.isenabled():
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD)
        gc.enable()


GC_THRESHOLD = 100_000


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
