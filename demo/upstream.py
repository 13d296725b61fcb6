"""A local upstream HTTP service for the demo and the end-to-end tests (dev-time, loopback only).

Endpoints cover what a recap must show: `/fast` (200), `/slow?ms=N` (200 after N ms),
`/redirect` (302 to /fast), `/fail` (500), `/drop` (closes the connection without answering),
`/echo` (200, echoes the request body), `/status/N` (answers status N); any other path answers
200 with a small JSON body. `?delay=N` on any path waits N ms before answering. Every request is
logged in `requests_seen` so tests can compare what the function sent with what the recap says.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

MAX_SLOW_MS = 30_000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; without TCP_NODELAY a kept-alive connection waits
    # for the peer's delayed ACK (~40 ms) and the demo would show latency that is not there.
    disable_nagle_algorithm = True
    server: UpstreamServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        """Silence the default per-request stderr line."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        self.server.record(self.command, self.path)
        query = parse_qs(url.query)
        if "delay" in query:
            time.sleep(_millis(query["delay"][0]) / 1000)
        if url.path == "/drop":
            self.close_connection = True
            self.connection.close()
            return
        if url.path == "/redirect":
            self._reply(302, b"", {"Location": "/fast"})
        elif url.path == "/slow":
            millis = _millis(query.get("ms", ["300"])[0])
            time.sleep(millis / 1000)
            self._json(200, {"slept_ms": millis})
        elif url.path == "/fail":
            self._json(500, {"error": "upstream failure"})
        elif url.path == "/echo":
            self._reply(200, body, {"Content-Type": "application/octet-stream"})
        elif url.path.startswith("/status/"):
            self._json(int(url.path.rsplit("/", 1)[1]), {"status": "as asked"})
        else:
            self._json(200, {"path": url.path, "items": [1, 2, 3]})

    def _json(self, status: int, payload: object) -> None:
        self._reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _millis(text: str) -> int:
    """A wait asked for in a query, bounded; 0 when it is not a number."""
    try:
        return min(max(int(text), 0), MAX_SLOW_MS)
    except ValueError:
        return 0


class UpstreamServer(ThreadingHTTPServer):
    """The service on 127.0.0.1 (port 0 picks a free one); use as a context manager."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.requests_seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="upstream", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests_seen.append((method, path))

    def __enter__(self) -> UpstreamServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()
        self.server_close()
