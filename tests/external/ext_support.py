"""Helpers for the external extension's tests: wire messages and a loopback receiver."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from typing import Any

from call_support import T0
from call_support import wire_call as call

from httprecap.external.aggregate.store import Aggregator


def call_msg(request_id: str, call_id: str, **fields: Any) -> dict[str, Any]:
    return {"k": "call", "call": call(request_id, call_id, **fields)}


def start_msg(request_id: str, call_id: str, offset_ms: float = 0.0) -> dict[str, Any]:
    notice = call(request_id, call_id, offset_ms)
    for name in ("durationMs", "status", "error", "bytesSent", "bytesReceived", "attempts"):
        notice.pop(name)
    return {"k": "start", "call": notice}


def end_msg(request_id: str, calls: int, status: str = "success", duration_ms: float = 100.0,
            **fields: Any) -> dict[str, Any]:
    return {"k": "end", "requestId": request_id, "status": status, "calls": calls,
            "startedAtUs": T0, "durationMs": duration_ms, "dropped": {}, "overheadUs": 40,
            **fields}


class Clock:
    """A monotonic clock the test moves (`now`)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def clocked_aggregator(max_calls: int = 100) -> tuple[Aggregator, Clock]:
    """An Aggregator on a test clock, its wall clock half a second after T0."""
    clock = Clock()
    return Aggregator(max_calls, clock=clock, wall_us=lambda: T0 + 500_000), clock


def invoke(agg: Aggregator, request_id: str, deadline_in_s: float = 3.0) -> None:
    """The INVOKE event for `request_id`, its deadline `deadline_in_s` away."""
    agg.on_invoke({"eventType": "INVOKE", "requestId": request_id,
                   "deadlineMs": (T0 + 500_000) // 1000 + int(deadline_in_s * 1000),
                   "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-abc"}})


def batch(*messages: dict[str, Any], pid: int | None = None) -> bytes:
    """A batch as this process would post it (a live pid: see Collector.closed)."""
    return json.dumps({"v": 1, "pid": os.getpid() if pid is None else pid, "seq": 1,
                       "messages": list(messages)}).encode()


class Receiver:
    """A loopback HTTP server recording every POST; answers `status` (settable)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.delay = 0.0  # seconds before answering
        self.received = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                if receiver.status < 300:
                    receiver.bodies.append(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
