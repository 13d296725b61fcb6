"""Invoke: one invocation from platform.start to platform.report (dev-time sandbox process,
run by the sandbox's worker thread).

As Lambda does (docs/PROTOCOL.md, 3.2): the INVOKE event goes to the subscribed extensions and
the event to the runtime together; the caller gets the response the moment the runtime posts
it; platform.runtimeDone follows the runtime's next /next; the invoke ends when every
INVOKE-subscribed extension called /event/next again, and then the environment freezes. The
function timeout bounds all of it (and a re-init the invoke may need first); a timeout or a
crash resets the environment.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from httprecap.sandbox.lifecycle import Lifecycle
from httprecap.sandbox.logs import ReportFigures, billed_ms, end_line, report_line, start_line
from httprecap.sandbox.results import InvokeResponse, InvokeResult
from httprecap.sandbox.state import Failure, Instance, Invocation
from httprecap.sandbox.telemetry_delivery import iso_time, span

MIB = 1024 * 1024
OnResponse = Callable[[InvokeResponse], None]


@dataclass
class Run:
    """What one invoke has gathered so far (classic, or on Lambda Managed Instances)."""

    caller_start: float
    log_mark: int
    on_response: OnResponse | None
    trace_id: str | None
    request_id: str = ""
    start: float = 0.0
    init_ms: float | None = None
    invocation: Invocation | None = None
    response: InvokeResponse | None = None
    responded_at: float = 0.0


@dataclass
class _Run(Run):
    """A classic invoke: one at a time, the extensions' INVOKE and telemetry tracked too."""

    deadline: float = 0.0
    init_in_invoke: bool = False  # a suppressed init: its time is part of the duration
    runtime_done_sent: bool = False
    extensions_done_at: float | None = None
    invoke_agents: int = 0


class Invoker:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.config = lifecycle.config
        self.telemetry = lifecycle.telemetry
        self.logs = lifecycle.logs

    def invoke(self, event: bytes, trace_id: str | None,
               on_response: OnResponse | None) -> InvokeResult:
        run = _Run(time.perf_counter(), self.logs.mark(), on_response, trace_id)
        self._prepare(run)
        run.request_id = str(uuid.uuid4())
        run.start = time.perf_counter()
        run.deadline = run.start + self.config.timeout_s
        self._emit_start(run)
        failure = None
        if self.lifecycle.platform.instance is None:
            run.init_ms, failure = self.lifecycle.init("invoke", run.deadline)
            run.init_in_invoke = True
        if failure is None:
            failure = self._run(run, event)
        return self._finish(run, failure)

    def _prepare(self, run: _Run) -> None:
        """On-demand init before the first invoke; drop an instance that broke while idle."""
        instance = self.lifecycle.platform.instance
        if instance is None and not self.lifecycle.initialised_once:
            deadline = time.perf_counter() + self.config.init_timeout_s
            duration, failure = self.lifecycle.init("init", deadline)
            instance = self.lifecycle.platform.instance
            if failure is None:
                run.init_ms = duration
            elif instance is not None:
                self.lifecycle.spin_down(instance, reset_reason(failure))
        elif instance is not None and instance.failure is not None:
            self.lifecycle.spin_down(instance, "failure")

    def _emit_start(self, run: _Run) -> None:
        record: dict[str, Any] = {"requestId": run.request_id, "version": "$LATEST"}
        if run.trace_id:
            record["tracing"] = _tracing(run.trace_id)
        add_tenant(self.config.tenant_id, record)
        self.telemetry.emit("platform.start", record)
        self.logs.add("platform", start_line(run.request_id))

    # -- the invocation proper ----------------------------------------------------------------

    def _run(self, run: _Run, event: bytes) -> Failure | None:
        lifecycle = self.lifecycle
        instance = lifecycle.platform.instance
        assert instance is not None
        lifecycle.thaw(instance)
        invocation = self._dispatch(run, instance, event)
        failure = lifecycle.wait(instance, lambda: invocation.responded_at is not None,
                                 run.deadline)
        if failure is not None:
            return failure
        respond(run, invocation.response or b"", invocation.function_error,
                      invocation.content_type)
        failure = lifecycle.wait(instance, lambda: invocation.runtime_next_at is not None,
                                 run.deadline)
        if failure is not None:
            return failure
        # What the function printed before its next /next is logged before runtimeDone (the
        # pipe's reader thread may not have read it yet). The extensions' lines have no
        # such order: theirs are not waited for inside the time measured after it.
        lifecycle.drain_output(instance, function_only=True)
        self._runtime_done(run, invocation)
        agents = instance.invoke_agents()
        failure = lifecycle.wait(instance, lambda: all(agent.idle for agent in agents),
                                 run.deadline)
        if failure is None:
            # The invoke is done when the runtime *and* every agent are back at /next: an
            # extension that is ready before the runtime does not end it early.
            run.extensions_done_at = max([invocation.runtime_next_at or 0.0,
                                          *(agent.next_at for agent in agents)])
        return failure

    def _dispatch(self, run: _Run, instance: Instance, event: bytes) -> Invocation:
        """Hand the event to the runtime and INVOKE to the agents, in one step."""
        deadline_ms = int((time.time() + run.deadline - time.perf_counter()) * 1000)
        invocation = Invocation(run.request_id, event, deadline_ms, run.trace_id)
        invoke_event = self._invoke_event(run, deadline_ms)
        cond = self.lifecycle.platform.cond
        with cond:
            run.invocation = invocation
            instance.runtime.pending = invocation
            agents = instance.invoke_agents()
            run.invoke_agents = len(agents)
            for agent in agents:
                agent.pending.append(invoke_event)
            cond.notify_all()
        return invocation

    def _invoke_event(self, run: _Run, deadline_ms: int) -> bytes:
        event: dict[str, Any] = {"eventType": "INVOKE", "deadlineMs": deadline_ms,
                                 "requestId": run.request_id,
                                 "invokedFunctionArn": self.config.function_arn}
        if run.trace_id:
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": run.trace_id}
        return json.dumps(event, separators=(",", ":")).encode()

    def _runtime_done(self, run: _Run, invocation: Invocation) -> None:
        handed = invocation.handed_at or run.start
        started = invocation.response_started or handed
        responded = invocation.responded_at or started
        finished = invocation.runtime_next_at or responded
        record: dict[str, Any] = {"requestId": run.request_id,
                                  "status": "error" if invocation.function_error else "success"}
        if invocation.error_type:
            record["errorType"] = invocation.error_type
        record["spans"] = [
            span("responseLatency", invocation.handed_epoch, (started - handed) * 1000),
            span("responseDuration", invocation.response_started_epoch,
                 (responded - started) * 1000),
            span("runtimeOverhead", invocation.responded_epoch, (finished - responded) * 1000),
        ]
        record["metrics"] = {"durationMs": round((finished - handed) * 1000, 3),
                             "producedBytes": len(invocation.response or b"")}
        self._add_tracing(run, record)
        add_tenant(self.config.tenant_id, record)
        self.telemetry.emit("platform.runtimeDone", record)
        run.runtime_done_sent = True

    def _add_tracing(self, run: _Run, record: dict[str, Any]) -> None:
        if run.trace_id:
            record["tracing"] = _tracing(run.trace_id)

    # -- the end: failure handling, report, freeze or reset -----------------------------------

    def _finish(self, run: _Run, failure: Failure | None) -> InvokeResult:
        end = time.perf_counter() if failure else (run.extensions_done_at or time.perf_counter())
        instance = self.lifecycle.platform.instance
        if failure is not None:
            self._fail(run, failure)
        if instance is not None:
            for process in instance.processes():
                process.drain()
            self.lifecycle.memory.sample_now(instance)
        figures = self._figures(run, failure, end, instance)
        self._report(run, figures, instance, end, platform_level=failure is not None)
        if instance is not None and failure is not None:
            self.lifecycle.spin_down(instance, reset_reason(failure))
        elif instance is not None:
            self.lifecycle.freeze(instance)
        return self._result(run, figures)

    def _fail(self, run: _Run, failure: Failure) -> None:
        """The caller's error and the platform's lines for a timeout, crash or init failure."""
        payload = self._failure_payload(run, failure)
        respond(run, payload, "Unhandled")
        if failure.status == "timeout":
            self.logs.add("platform", json.loads(payload)["errorMessage"])
        elif failure.payload is None:
            self.logs.add("platform", f"RequestId: {run.request_id} Error: {failure.message}")
            self.logs.add("platform", failure.error_type)
        if run.invocation is not None and not run.runtime_done_sent:
            self._runtime_failed(run, run.invocation, failure)

    def _failure_payload(self, run: _Run, failure: Failure) -> bytes:
        return failure_payload(run.request_id, failure, self.config.timeout_s)

    def _runtime_failed(self, run: _Run, invocation: Invocation, failure: Failure) -> None:
        record: dict[str, Any] = {"requestId": run.request_id, "status": failure.status}
        if failure.status != "timeout":
            record["errorType"] = failure.error_type
        handed = invocation.handed_at or time.perf_counter()
        record["metrics"] = {"durationMs": round((time.perf_counter() - handed) * 1000, 3),
                             "producedBytes": 0}
        self._add_tracing(run, record)
        add_tenant(self.config.tenant_id, record)
        self.telemetry.emit("platform.runtimeDone", record)
        run.runtime_done_sent = True

    def _figures(self, run: _Run, failure: Failure | None, end: float,
                 instance: Instance | None) -> ReportFigures:
        invocation = run.invocation
        error_type: str | None
        if failure is not None:
            status = failure.status
            error_type = None if failure.status == "timeout" else failure.error_type
        elif invocation is not None and invocation.function_error:
            status, error_type = "error", invocation.error_type
        else:
            status, error_type = "success", None
        duration_ms = (end - run.start) * 1000
        peak = instance.peak_rss if instance is not None else 0
        return ReportFigures(
            request_id=run.request_id, duration_ms=duration_ms,
            # On-demand init is billed since 2025-08 (docs/PROTOCOL.md, 3.1); a suppressed init is
            # already inside the duration.
            billed_duration_ms=billed_ms(
                duration_ms + (0.0 if run.init_in_invoke else run.init_ms or 0.0)),
            memory_mb=self.config.memory_size_mb, max_memory_mb=math.ceil(peak / MIB),
            init_duration_ms=run.init_ms, status=status, error_type=error_type)

    def _report(self, run: _Run, figures: ReportFigures, instance: Instance | None,
                end: float, platform_level: bool) -> None:
        metrics: dict[str, Any] = {"durationMs": round(figures.duration_ms, 3),
                                   "billedDurationMs": figures.billed_duration_ms,
                                   "memorySizeMB": figures.memory_mb,
                                   "maxMemoryUsedMB": figures.max_memory_mb}
        if figures.init_duration_ms is not None:
            metrics["initDurationMs"] = round(figures.init_duration_ms, 3)
        record: dict[str, Any] = {"requestId": run.request_id, "status": figures.status}
        if figures.error_type:
            record["errorType"] = figures.error_type
        record["metrics"] = metrics
        if instance is not None and instance.agents:
            record["spans"] = [self._extension_overhead(run, end)]
        self._add_tracing(run, record)
        add_tenant(self.config.tenant_id, record)
        self.telemetry.emit("platform.report", record)
        self.logs.add("platform", end_line(run.request_id))
        # A function error posted through /error is the function's business, not the platform's:
        # CloudWatch's REPORT line shows a Status only for platform-level outcomes.
        if not platform_level:
            figures = dataclasses.replace(figures, status="success", error_type=None)
        self.logs.add("platform", report_line(figures))

    def _extension_overhead(self, run: _Run, end: float) -> dict[str, Any]:
        invocation = run.invocation
        runtime_done = invocation.runtime_next_at if invocation else None
        if runtime_done is None:
            return span("extensionOverhead", time.time(), 0.0)
        start_epoch = invocation.runtime_next_epoch if invocation else time.time()
        return span("extensionOverhead", start_epoch, max(0.0, (end - runtime_done) * 1000))

    def _result(self, run: _Run, figures: ReportFigures) -> InvokeResult:
        response = run.response
        assert response is not None
        invocation = run.invocation
        overhead = 0.0
        if invocation is not None and invocation.runtime_next_at and run.extensions_done_at:
            overhead = max(0.0, (run.extensions_done_at - invocation.runtime_next_at) * 1000)
        return InvokeResult(
            request_id=run.request_id, status_code=response.status_code,
            payload=response.payload, function_error=response.function_error,
            response_latency_ms=(run.responded_at - run.caller_start) * 1000,
            duration_ms=figures.duration_ms, billed_duration_ms=figures.billed_duration_ms,
            init_duration_ms=figures.init_duration_ms, max_memory_mb=figures.max_memory_mb,
            extension_overhead_ms=overhead, status=figures.status,
            error_type=figures.error_type or (
                "Sandbox.Timedout" if figures.status == "timeout" else None),
            logs=self.logs.since(run.log_mark))


def respond(run: Run, payload: bytes, function_error: str | None,
            content_type: str = "application/json") -> None:
    """Answer the caller once: the first of the runtime's result and a failure wins."""
    if run.response is not None:
        return
    run.responded_at = time.perf_counter()
    run.response = InvokeResponse(run.request_id, 200, payload, function_error, content_type)
    if run.on_response is not None:
        run.on_response(run.response)


def failure_payload(request_id: str, failure: Failure, timeout_s: float) -> bytes:
    """The body the Invoke API returns for a timeout, a crash or an init failure."""
    if failure.status == "timeout":
        message = (f"{iso_time(time.time())} {request_id} Task timed out after "
                   f"{timeout_s:.2f} seconds")
        return json.dumps({"errorMessage": message}).encode()
    if failure.payload is not None:
        return failure.payload
    return json.dumps({"errorType": failure.error_type, "errorMessage":
                       f"RequestId: {request_id} Error: {failure.message}"}).encode()


def add_tenant(tenant_id: str | None, record: dict[str, Any]) -> None:
    """`tenantId` in the platform events of an invocation (start, runtimeDone, report), for
    a function in tenant-isolation mode (docs/PROTOCOL.md, 5)."""
    if tenant_id is not None:
        record["tenantId"] = tenant_id


def _tracing(trace_id: str) -> dict[str, str]:
    return {"type": "X-Amzn-Trace-Id", "value": trace_id}


def reset_reason(failure: Failure) -> str:
    """The SHUTDOWN reason of the reset a failure causes."""
    if failure.status == "timeout":
        return "timeout"
    return "spindown" if failure.error_type == "Sandbox.Failure" else "failure"
