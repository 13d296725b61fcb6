"""A minimal Lambda Runtime API on loopback, enough for the real awslambdaric to run a handler.

Test helper (not a test module): hands out queued events on `/next` and records what the
runtime posts back, so attribution can be checked against the real runtime client."""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.posted: dict[str, tuple[str, Any]] = {}  # request id -> (response|error, body)
        self.init_errors: list[Any] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404, {})
                    return
                request_id, event = api.events.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                for name, value in (
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000)),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     "arn:aws:lambda:us-east-1:123456789012:function:test"),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                ):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    api.init_errors.append(body)
                elif parts[0] == "invocation" and len(parts) == 3:
                    api.posted[parts[1]] = (parts[2], body)
                self._reply(202, {"status": "OK"})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def invoke(self, request_id: str, event: dict[str, Any]) -> None:
        self.events.put((request_id, event))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
