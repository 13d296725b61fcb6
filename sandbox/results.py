"""Results: what the caller of an invoke gets back (dev-time sandbox process).

`InvokeResponse` is what the Invoke API returns at the moment the runtime posts its result;
`InvokeResult` adds what is known only when the whole invoke is over (durations, memory,
extension overhead, the log lines), i.e. the figures of Lambda's REPORT line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from httprecap.sandbox.logs import LogLine


@dataclass(frozen=True)
class InvokeResponse:
    request_id: str
    status_code: int
    payload: bytes
    function_error: str | None
    content_type: str = "application/json"


@dataclass(frozen=True)
class InvokeResult:
    """One finished invoke. `status` is platform.report's: success, error, timeout, failure."""

    request_id: str
    status_code: int
    payload: bytes
    function_error: str | None
    response_latency_ms: float
    duration_ms: float
    billed_duration_ms: int
    init_duration_ms: float | None
    max_memory_mb: int
    extension_overhead_ms: float
    status: str
    error_type: str | None = None
    logs: list[LogLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success" and self.function_error is None
