"""Telemetry: builds the platform.* events and delivers every event to the Telemetry API
subscribers, batched (dev-time sandbox process).

Each subscriber gets its own `Stream`: a queue and a thread that POSTs JSON arrays to the
subscriber's listener when `maxItems`, `maxBytes` or `timeoutMs` is reached, retrying with
back-off while the listener is absent or failing. Nothing is delivered while the environment is
frozen (the listener could not answer); events queue and go out after the thaw. A subscriber
that falls behind loses `function`/`extension` records and later gets `platform.logsDropped`.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

Event = dict[str, Any]

SCHEMA_VERSIONS = ("2022-07-01", "2022-12-13", "2025-01-29")
MANAGED_SCHEMA_VERSION = "2025-01-29"  # the only one Lambda Managed Instances accept
TYPES = ("platform", "function", "extension")
DEFAULT_BUFFERING = {"maxItems": 10000, "maxBytes": 262144, "timeoutMs": 1000}
BUFFERING_BOUNDS = {"maxItems": (1000, 10000), "maxBytes": (262144, 1048576),
                    "timeoutMs": (25, 30000)}
# How far a subscriber may fall behind (in multiples of its maxBytes) before records drop.
BACKLOG_FACTOR = 4
DROP_REASON = ("Consumer seems to have fallen behind as it has not acknowledged receipt of "
               "logs.")


def iso_time(epoch: float) -> str:
    """ISO-8601 with milliseconds and Z, as Lambda writes `time` and span `start`."""
    # Rounded to the microsecond first, as datetime.fromtimestamp rounds it.
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    seconds = int(whole) + micros // 1_000_000
    return f"{_iso_seconds(seconds)}.{micros % 1_000_000 // 1000:03d}Z"


@lru_cache(maxsize=64)
def _iso_seconds(seconds: int) -> str:
    # Every line and event of an invocation names the same few seconds: each is written once
    # (the platform's events are made inside the times this sandbox measures).
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def make_event(event_type: str, record: Any, at: float | None = None) -> Event:
    return {"time": iso_time(time.time() if at is None else at), "type": event_type,
            "record": record}


def category(event: Event) -> str:
    kind: str = event["type"]
    return "platform" if kind.startswith("platform.") else kind


def span(name: str, start: float, duration_ms: float) -> dict[str, Any]:
    return {"name": name, "start": iso_time(start), "durationMs": round(duration_ms, 3)}


@dataclass(frozen=True)
class Subscription:
    """A validated PUT /telemetry body."""

    name: str
    types: tuple[str, ...]
    max_items: int
    max_bytes: int
    timeout_ms: int
    host: str
    port: int
    path: str


class Stream:
    """Batched, retried delivery of events to one subscriber."""

    def __init__(self, subscription: Subscription, gate: threading.Event,
                 on_created: Callable[[Event], None]) -> None:
        self.subscription = subscription
        self._gate = gate
        self._on_created = on_created
        self._queue: deque[tuple[Event, bytes]] = deque()
        self._queued_bytes = 0
        self._oldest = 0.0
        self._dropped = [0, 0]  # records, bytes
        self._cond = threading.Condition()
        self._flushing = False
        self._closed = False
        self.in_flight = False
        self.delivered: int = 0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"telemetry-{subscription.name}")
        self._thread.start()

    def offer(self, event: Event) -> None:
        if category(event) not in self.subscription.types:
            return
        encoded = json.dumps(event, separators=(",", ":")).encode()
        with self._cond:
            if self._must_drop(event):
                self._dropped[0] += 1
                self._dropped[1] += len(encoded)
                return
            self._append(event, encoded)

    def _must_drop(self, event: Event) -> bool:
        behind = self._queued_bytes > BACKLOG_FACTOR * self.subscription.max_bytes
        return behind and category(event) != "platform"

    def _append(self, event: Event, encoded: bytes) -> None:
        first = not self._queue
        if first:
            self._oldest = time.monotonic()
        self._queue.append((event, encoded))
        self._queued_bytes += len(encoded)
        # The stream's thread waits for the oldest event's timeout, or a full batch: woken
        # for those alone, not once per event (events are made inside the times measured).
        if first or self._full():
            self._cond.notify_all()

    def flush(self) -> None:
        with self._cond:
            self._flushing = True
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def close(self, deadline: float) -> None:
        """Deliver what is queued until `deadline` (monotonic), then stop."""
        self.flush()
        with self._cond:
            self._cond.wait_for(lambda: not self._queue and not self.in_flight,
                                max(0.0, deadline - time.monotonic()))
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._deliver(batch)

    def _ready(self) -> bool:
        sub = self.subscription
        if not self._queue:
            return False
        aged = (time.monotonic() - self._oldest) * 1000 >= sub.timeout_ms
        return aged or self._full() or self._flushing

    def _full(self) -> bool:
        """Whether what is queued fills a batch (`maxItems` or `maxBytes`)."""
        sub = self.subscription
        return len(self._queue) >= sub.max_items or self._queued_bytes >= sub.max_bytes

    def _next_batch(self) -> list[bytes] | None:
        with self._cond:
            while not self._closed:
                if self._ready() and self._gate.is_set():
                    self.in_flight = True
                    return self._take()
                # While frozen, `TelemetryHub.resume` wakes the stream.
                self._cond.wait(self._wait_time() if self._gate.is_set() else 1.0)
            return None

    def _wait_time(self) -> float:
        if not self._queue:
            return 1.0
        age_ms = (time.monotonic() - self._oldest) * 1000
        return max(0.002, (self.subscription.timeout_ms - age_ms) / 1000)

    def _take(self) -> list[bytes]:
        batch: list[bytes] = []
        size = 0
        sub = self.subscription
        while self._queue and len(batch) < sub.max_items and size < sub.max_bytes:
            _, encoded = self._queue.popleft()
            batch.append(encoded)
            size += len(encoded)
        self._queued_bytes -= size
        self._oldest = time.monotonic()
        if not self._queue:
            self._flushing = False
        self._report_drops()
        return batch

    def _report_drops(self) -> None:
        records, size = self._dropped
        if not records:
            return
        self._dropped = [0, 0]
        event = make_event("platform.logsDropped", {
            "droppedBytes": size, "droppedRecords": records, "reason": DROP_REASON})
        self._on_created(event)
        self._append(event, json.dumps(event, separators=(",", ":")).encode())

    def _deliver(self, batch: list[bytes]) -> None:
        body = b"[" + b",".join(batch) + b"]"
        delay = 0.02
        while not self._closed and not self._post(body):
            with self._cond:
                self._cond.wait(delay)
            delay = min(delay * 2, 1.0)
            while not self._gate.is_set() and not self._closed:
                self._gate.wait(0.5)
        with self._cond:
            self.in_flight = False
            self.delivered += len(batch)
            self._cond.notify_all()

    def _post(self, body: bytes) -> bool:
        sub = self.subscription
        connection = http.client.HTTPConnection(sub.host, sub.port, timeout=30)
        try:
            connection.request("POST", sub.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return 200 <= response.status < 300
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def wait_idle(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self.in_flight, timeout)


class TelemetryHub:
    """Every event the platform emits: recorded for the caller, fanned out to subscribers."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._streams: list[Stream] = []
        self._backlog: list[Event] | None = None
        self._lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        # Called with every event as it is emitted (the log book, for the JSON log format).
        self.listeners: list[Callable[[Event], None]] = []

    def emit(self, event_type: str, record: Any, at: float | None = None) -> Event:
        event = make_event(event_type, record, at)
        with self._lock:
            self.events.append(event)
            if self._backlog is not None:
                self._backlog.append(event)
            streams = list(self._streams)
        for listener in self.listeners:
            listener(event)
        for stream in streams:
            stream.offer(event)
        return event

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def _record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def open_subscriptions(self) -> None:
        """A new init: keep its events so subscribers that arrive during it get them all."""
        with self._lock:
            self._backlog = []

    def close_subscriptions(self) -> None:
        with self._lock:
            self._backlog = None

    def subscribe(self, subscription: Subscription) -> None:
        stream = Stream(subscription, self.gate, self._record)
        # Under the lock, so the backlog reaches the new subscriber before any newer event.
        with self._lock:
            for event in self._backlog or []:
                stream.offer(event)
            self._streams.append(stream)

    def pause(self, timeout: float = 0.5) -> None:
        """Stop delivering (before a freeze); waits briefly for deliveries under way."""
        self.gate.clear()
        deadline = time.monotonic() + timeout
        for stream in self._snapshot():
            stream.wait_idle(max(0.0, deadline - time.monotonic()))

    def resume(self) -> None:
        self.gate.set()
        for stream in self._snapshot():
            stream.wake()

    def flush(self) -> None:
        for stream in self._snapshot():
            stream.flush()

    def close_streams(self, deadline: float) -> None:
        """Deliver what is left (until `deadline`, monotonic) and forget every subscriber."""
        streams = self._snapshot()
        with self._lock:
            self._streams = []
        for stream in streams:
            stream.close(deadline)

    def _snapshot(self) -> list[Stream]:
        with self._lock:
            return list(self._streams)
