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
MAX_LINE = 65536  # the standard library's bounds on a request's head
MAX_FIELDS = 100


class Request:
    """What a route handler sees of one HTTP request; the body is read on demand."""

    def __init__(self, handler: _Handler) -> None:
        self.method = handler.command
        self.path = handler.path.split("?", 1)[0]
        self.headers: dict[str, str] = handler.fields
        self._stream = handler.rfile
        self.body_read = False

    def header(self, name: str) -> str | None:
        """The first value of the header `name` (any case)."""
        return self.headers.get(name.lower())

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
    raw_requestline: bytes
    fields: dict[str, str]  # the request's headers, by lower-case name (the first of each)

    def parse_request(self) -> bool:
        """The request line and headers, as the standard library's handler reads them but
        without its `email` parser: that cost a tenth of a millisecond per request, and an
        extension's `/event/next` is parsed inside the post-runtime time this sandbox
        measures (Lambda's own server is Go). False once an error reply has been sent."""
        self.command = None  # type: ignore[assignment]  # (the stdlib's own "not yet")
        # Until the line is read: HTTP/1.0, so that an error reply has a status line (the
        # standard library's HTTP/0.9 default sends a bare page) and closes the connection.
        self.request_version = "HTTP/1.0"
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        version = _version(words[2]) if len(words) == 3 else None
        if version is None:
            self.send_error(400, f"Bad request syntax ({self.requestline!r})")
            return False
        if version >= (2, 0):
            self.send_error(505, f"Invalid HTTP version ({words[2]})")
            return False
        self.command, self.path, self.request_version = words
        self.close_connection = version < (1, 1)
        fields = _read_fields(self.rfile)
        if isinstance(fields, str):
            self.send_error(431, fields)
            return False
        self.fields = fields
        connection = fields.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if fields.get("expect", "").lower() == "100-continue" and version >= (1, 1):
            return self.handle_expect_100()
        return True

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


def _version(text: str) -> tuple[int, int] | None:
    """(major, minor) of an `HTTP/x.y` version, or None."""
    name, _, number = text.partition("/")
    major, dot, minor = number.partition(".")
    if name != "HTTP" or not dot or not (major.isdigit() and minor.isdigit()) \
            or len(major) > 10 or len(minor) > 10:
        return None
    return int(major), int(minor)


def _read_fields(stream: Any) -> dict[str, str] | str:
    """Header fields up to the blank line, by lower-case name (a folded line continues the
    field before it); or why they were refused."""
    fields: dict[str, str] = {}
    last = ""
    for _ in range(MAX_FIELDS + 1):
        raw = stream.readline(MAX_LINE + 1)
        if len(raw) > MAX_LINE:
            return "Line too long"
        if raw in (b"\r\n", b"\n", b""):
            return fields
        text = raw.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if last:
                fields[last] = f"{fields[last]} {text.strip()}"
            continue
        name, _, value = text.partition(":")
        last = name.strip().lower()
        fields.setdefault(last, value.strip())
    return "Too many headers"


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
