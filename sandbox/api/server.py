"""The sandbox's one HTTP server: routes requests of the three APIs to their handlers, and
`httprecap serve`'s Invoke API to its own (dev-time sandbox process, a thread per connection).

Each route's handler gets the server's context (the sandbox's `Platform`, or what `serve`
invokes), the request and the path's match. Long polls (`/runtime/invocation/next`,
`/extension/event/next`) block their connection's thread until the lifecycle hands them
something, so the server is threaded. It speaks HTTP/1.1 with keep-alive, as awslambdaric's
libcurl client expects.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from httprecap.sandbox.state import Platform


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def error_reply(status: int, error_type: str, message: str) -> Reply:
    """Every API error body: {"errorMessage": ..., "errorType": ...} (RAPID's ErrorResponse)."""
    return json_reply(status, {"errorMessage": message, "errorType": error_type})


ACCEPTED = {"status": "OK"}


class Request:
    """What a route handler sees of one HTTP request; the body is read on demand."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.method = handler.command
        self.path = handler.path.split("?", 1)[0]
        self.headers: Message = handler.headers
        self._stream = handler.rfile
        self.body_read = False

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def read_body(self) -> bytes:
        self.body_read = True
        if (self.header("Transfer-Encoding") or "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.header("Content-Length") or 0)
        return self._stream.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._stream.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self._stream.read(size))
            self._stream.readline()


# The first argument is the server's context: a `Platform` for the Lambda APIs.
Handler = Callable[[Any, Request, "re.Match[str]"], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handle: Handler


def route(method: str, pattern: str, handle: Handler) -> Route:
    return Route(method, re.compile(pattern + r"\Z"), handle)


def _not_found(path: str) -> Reply:
    return error_reply(404, "NotFound", f"no such API path: {path}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small replies on a kept-alive connection: Nagle + delayed ACK would add 40 ms to each.
    disable_nagle_algorithm = True
    server: _Server

    def _dispatch(self) -> None:
        request = Request(self)
        reply = self._route(request)
        if not request.body_read:
            request.read_body()  # keep the kept-alive connection in step
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _route(self, request: Request) -> Reply:
        for candidate in self.server.routes:
            match = candidate.pattern.match(request.path)
            if match and candidate.method == request.method:
                return candidate.handle(self.server.context, request, match)
        return _not_found(request.path)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        pass  # the sandbox's logs are the processes' lines, not an access log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A process killed by a reset or a shutdown leaves its long poll behind: expected.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def __init__(self, context: object, routes: list[Route], port: int) -> None:
        self.context = context
        self.routes = routes
        # A fixed port (serve's) is bound again right after a restart, its old connections
        # still in TIME_WAIT; a free port is never shared.
        self.allow_reuse_address = port != 0
        super().__init__(("127.0.0.1", port), _Handler)


class ApiServer:
    """Serves `routes` on 127.0.0.1:`port` (a free one by default): the Runtime, Extensions and
    Telemetry APIs with a `Platform` as context. Binds at once (OSError if it cannot)."""

    def __init__(self, context: Platform | object, routes: list[Route], port: int = 0,
                 name: str = "lambda-api") -> None:
        self._server = _Server(context, routes, port)
        port = self._server.server_address[1]
        self.address = f"127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=name)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must be running
            self._server.shutdown()
        self._server.server_close()
