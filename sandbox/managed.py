"""Invoke on Lambda Managed Instances: several invocations at once in one environment
(dev-time sandbox process; each invoke runs on a thread of its own, while the init and the
resets run on the sandbox's lifecycle thread).

docs/PROTOCOL.md, 7: the runtime's workers take invocations concurrently; extensions get no
INVOKE, so an invocation is over for the platform the moment its response is posted; there is
no `platform.runtimeDone`, `platform.report` carries only `durationMs` and the response spans,
`platform.start` names the function ARN, and nothing is frozen between invocations. A timeout
fails that invocation only (the environment carries on); a runtime or extension exit fails
every invocation under way and resets the environment.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

from httprecap.sandbox.invoke import (
    OnResponse,
    Run,
    add_tenant,
    failure_payload,
    reset_reason,
    respond,
)
from httprecap.sandbox.lifecycle import ABORTED, Lifecycle
from httprecap.sandbox.logs import billed_ms, end_line, start_line
from httprecap.sandbox.results import InvokeResult
from httprecap.sandbox.state import Failure, Instance, Invocation
from httprecap.sandbox.telemetry_delivery import span

MIB = 1024 * 1024
T = TypeVar("T")
# Runs a lifecycle step on the thread that owns the processes, and waits for its result.
OnLifecycle = Callable[[Callable[[], Any]], Any]


class ManagedInvoker:
    """Concurrent invokes against one environment; see the module docstring."""

    def __init__(self, lifecycle: Lifecycle, on_lifecycle: OnLifecycle) -> None:
        self.lifecycle = lifecycle
        self.config = lifecycle.config
        self.platform = lifecycle.platform
        self.telemetry = lifecycle.telemetry
        self.logs = lifecycle.logs
        self._on_lifecycle = on_lifecycle
        self._init_lock = threading.Lock()

    def invoke(self, event: bytes, trace_id: str | None, on_response: OnResponse | None,
               caller_start: float) -> InvokeResult:
        run = Run(caller_start, self.logs.mark(), on_response, trace_id)
        run.init_ms, failure = self._ready()
        instance = self.platform.instance
        run.request_id = str(uuid.uuid4())
        run.start = time.perf_counter()
        self._emit_start(run)
        if failure is None and instance is not None:
            failure = self._run(run, instance, event)
        return self._finish(run, instance, failure)

    # -- the environment ----------------------------------------------------------------------

    def _ready(self) -> tuple[float | None, Failure | None]:
        """Initialise the environment if there is none (one caller does it, the others wait)."""
        with self._init_lock:
            instance = self.platform.instance
            if instance is not None and instance.failure is None:
                return None, None
            try:
                result: tuple[float | None, Failure | None] = self._on_lifecycle(self._init)
            except (RuntimeError, CancelledError):  # the sandbox closed under this invoke
                return None, ABORTED
            return result

    def _init(self) -> tuple[float | None, Failure | None]:
        lifecycle = self.lifecycle
        broken = self.platform.instance
        if broken is not None:
            lifecycle.spin_down(broken, "failure")
        # LMI environments are initialised before they take traffic: always phase `init`.
        deadline = time.perf_counter() + self.config.init_timeout_s
        duration, failure = lifecycle.init("init", deadline)
        instance = self.platform.instance
        if failure is not None and instance is not None:
            lifecycle.spin_down(instance, reset_reason(failure))
        return duration, failure

    def _reset(self, instance: Instance, failure: Failure) -> None:
        """Spin a failed environment down once, whichever invocation noticed first."""
        def reset() -> None:
            if self.platform.instance is instance and not instance.closing:
                self.lifecycle.spin_down(instance, reset_reason(failure))

        # A sandbox closing under this invoke stops the environment itself.
        with contextlib.suppress(RuntimeError, CancelledError):
            self._on_lifecycle(reset)

    # -- one invocation -----------------------------------------------------------------------

    def _emit_start(self, run: Run) -> None:
        record: dict[str, Any] = {"requestId": run.request_id, "version": "$LATEST",
                                  "functionArn": self.config.function_arn}
        if run.trace_id:
            record["tracing"] = _tracing(run.trace_id)
        add_tenant(self.config.tenant_id, record)
        self.telemetry.emit("platform.start", record)
        self.logs.add("platform", start_line(run.request_id))

    def _run(self, run: Run, instance: Instance, event: bytes) -> Failure | None:
        deadline = run.start + self.config.timeout_s
        deadline_ms = int((time.time() + self.config.timeout_s) * 1000)
        invocation = run.invocation = Invocation(run.request_id, event, deadline_ms, run.trace_id)
        cond = self.platform.cond
        with cond:
            instance.runtime.queue.append(invocation)
            cond.notify_all()
        failure = self.lifecycle.wait(instance, lambda: invocation.responded_at is not None,
                                      deadline)
        with cond:
            # Over for the platform: a late /response for it is an unknown request id.
            if invocation in instance.runtime.queue:
                instance.runtime.queue.remove(invocation)
            instance.runtime.active.pop(invocation.request_id, None)
        if failure is None:
            respond(run, invocation.response or b"", invocation.function_error,
                          invocation.content_type)
        return failure

    # -- the end ------------------------------------------------------------------------------

    def _finish(self, run: Run, instance: Instance | None,
                failure: Failure | None) -> InvokeResult:
        end = time.perf_counter()
        invocation = run.invocation
        if failure is not None:
            respond(run, failure_payload(run.request_id, failure, self.config.timeout_s),
                          "Unhandled")
            if failure.status == "timeout" or failure.payload is None:
                self.logs.add("platform", self._failure_line(run, failure))
        elif invocation is not None and invocation.responded_at is not None:
            end = invocation.responded_at
        if instance is not None:
            self.lifecycle.drain_output(instance)
            self.lifecycle.memory.sample_now(instance)
        status, error_type = _status(invocation, failure)
        duration_ms = (end - run.start) * 1000
        self._report(run, status, error_type, duration_ms, platform_level=failure is not None)
        if failure not in (None, ABORTED) and failure.status != "timeout" and instance:
            self._reset(instance, failure)
        return self._result(run, instance, status, error_type, duration_ms)

    def _failure_line(self, run: Run, failure: Failure) -> str:
        if failure.status == "timeout":
            body = json.loads(failure_payload(run.request_id, failure, self.config.timeout_s))
            return str(body["errorMessage"])
        return f"RequestId: {run.request_id} Error: {failure.message}"

    def _report(self, run: Run, status: str, error_type: str | None, duration_ms: float,
                platform_level: bool) -> None:
        record: dict[str, Any] = {"requestId": run.request_id, "status": status}
        if error_type:
            record["errorType"] = error_type
        record["metrics"] = {"durationMs": round(duration_ms, 3)}
        if run.trace_id:
            record["tracing"] = _tracing(run.trace_id)
        spans = _response_spans(run.invocation)
        if spans:
            record["spans"] = spans
        add_tenant(self.config.tenant_id, record)
        self.telemetry.emit("platform.report", record)
        self.logs.add("platform", end_line(run.request_id))
        # The sandbox's own REPORT line: LMI bills instances, not invocations, so it shows only
        # the duration (and, as CloudWatch does, a Status for platform-level outcomes).
        line = f"REPORT RequestId: {run.request_id}\tDuration: {duration_ms:.2f} ms\t"
        if platform_level:
            line += f"Status: {status}\t"
        self.logs.add("platform", line)

    def _result(self, run: Run, instance: Instance | None, status: str,
                error_type: str | None, duration_ms: float) -> InvokeResult:
        response = run.response
        assert response is not None
        peak = instance.peak_rss if instance is not None else 0
        return InvokeResult(
            request_id=run.request_id, status_code=response.status_code,
            payload=response.payload, function_error=response.function_error,
            response_latency_ms=(run.responded_at - run.caller_start) * 1000,
            duration_ms=duration_ms, billed_duration_ms=billed_ms(duration_ms),
            init_duration_ms=run.init_ms, max_memory_mb=math.ceil(peak / MIB),
            extension_overhead_ms=0.0, status=status,
            error_type=error_type or ("Sandbox.Timedout" if status == "timeout" else None),
            # Concurrent invocations interleave: these are the lines printed while it ran.
            logs=self.logs.since(run.log_mark))


def _status(invocation: Invocation | None, failure: Failure | None) -> tuple[str, str | None]:
    if failure is not None:
        return failure.status, None if failure.status == "timeout" else failure.error_type
    if invocation is not None and invocation.function_error:
        return "error", invocation.error_type
    return "success", None


def _response_spans(invocation: Invocation | None) -> list[dict[str, Any]]:
    """responseLatency and responseDuration, which LMI's report carries (no runtimeDone)."""
    if invocation is None or invocation.handed_at is None or invocation.responded_at is None:
        return []
    started = invocation.response_started or invocation.handed_at
    return [span("responseLatency", invocation.handed_epoch,
                 (started - invocation.handed_at) * 1000),
            span("responseDuration", invocation.response_started_epoch,
                 (invocation.responded_at - started) * 1000)]


def _tracing(trace_id: str) -> dict[str, str]:
    return {"type": "X-Amzn-Trace-Id", "value": trace_id}


def run_and_wait(submit: Callable[[Callable[[], T]], Future[T]]) -> OnLifecycle:
    """An OnLifecycle from an executor's submit: run there, wait here."""
    def on_lifecycle(step: Callable[[], Any]) -> Any:
        return submit(step).result()

    return on_lifecycle
