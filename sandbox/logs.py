"""Logs: every line the sandbox's processes print, and the CloudWatch-style platform lines
(dev-time sandbox process).

Lambda writes each stdout/stderr line of the runtime and of the extensions to CloudWatch,
between its own START / END / REPORT lines. `LogBook` keeps them in arrival order and hands
each to the caller's `on_log` as it arrives; with the function's JSON log format it drops what
Lambda would drop and writes the platform's lines as JSON events (log_levels.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from httprecap.sandbox.log_levels import LogSettings

Source = Literal["function", "extension", "platform"]
OnLog = Callable[["LogLine"], None]
# How the platform's text lines start (the functions below write them): the JSON log format
# has the platform's events instead (LogBook.add_event).
PLATFORM_TEXT = ("INIT_START ", "START RequestId: ", "END RequestId: ", "REPORT RequestId: ",
                 "EXTENSION\t", "INIT_REPORT ")


@dataclass(frozen=True)
class LogLine:
    """One line: epoch seconds, who printed it, the text without its newline."""

    time: float
    source: Source
    text: str


class LogBook:
    """Thread-safe list of LogLines with a live callback."""

    def __init__(self, on_log: OnLog | None = None, settings: LogSettings | None = None) -> None:
        self._lines: list[LogLine] = []
        # Re-entrant: an on_log callback may read the book.
        self._lock = threading.RLock()
        self._on_log = on_log
        self.settings = settings or LogSettings()

    def add(self, source: Source, text: str) -> LogLine | None:
        """Log a line, unless the function's logging configuration drops it (None)."""
        platform_text = source == "platform" and text.startswith(PLATFORM_TEXT)
        if not self.settings.admit(source, text, platform_text):
            return None
        return self._store(LogLine(time.time(), source, text))

    def add_event(self, event: dict[str, Any]) -> None:
        """A telemetry event: a platform line of its own in the JSON log format."""
        text = self.settings.system_line(event)
        if text is not None:
            self._store(LogLine(time.time(), "platform", text))

    def _store(self, line: LogLine) -> LogLine:
        with self._lock:
            self._lines.append(line)
            # Under the lock, so the callback sees lines in the order they are stored.
            if self._on_log is not None:
                self._on_log(line)
        return line

    def mark(self) -> int:
        with self._lock:
            return len(self._lines)

    def since(self, mark: int) -> list[LogLine]:
        with self._lock:
            return self._lines[mark:]

    def all(self) -> list[LogLine]:
        with self._lock:
            return list(self._lines)


def billed_ms(duration_ms: float) -> int:
    """Lambda bills whole milliseconds, rounded up."""
    return max(1, math.ceil(round(duration_ms, 6)))


def init_start_line(runtime_version: str, runtime_version_arn: str) -> str:
    return (f"INIT_START Runtime Version: {runtime_version}"
            f"\tRuntime Version ARN: {runtime_version_arn}")


def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def extension_line(name: str, state: str, events: list[str]) -> str:
    return f"EXTENSION\tName: {name}\tState: {state}\tEvents: [{','.join(events)}]"


def init_report_line(duration_ms: float, phase: str, status: str,
                     error_type: str | None) -> str:
    line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    return line + (f"\tError Type: {error_type}" if error_type else "")


@dataclass(frozen=True)
class ReportFigures:
    """The numbers of one REPORT line (and of platform.report)."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_mb: int
    max_memory_mb: int
    init_duration_ms: float | None
    status: str
    error_type: str | None


def report_line(figures: ReportFigures) -> str:
    parts = [
        f"REPORT RequestId: {figures.request_id}",
        f"Duration: {figures.duration_ms:.2f} ms",
        f"Billed Duration: {figures.billed_duration_ms} ms",
        f"Memory Size: {figures.memory_mb} MB",
        f"Max Memory Used: {figures.max_memory_mb} MB",
    ]
    if figures.init_duration_ms is not None:
        parts.append(f"Init Duration: {figures.init_duration_ms:.2f} ms")
    if figures.status != "success":
        parts.append(f"Status: {figures.status}")
    if figures.error_type:
        parts.append(f"Error Type: {figures.error_type}")
    return "\t".join(parts) + "\t"
