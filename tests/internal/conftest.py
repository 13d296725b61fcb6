"""Fixtures for the internal extension: a collector that validates batches like the extension,
a loopback HTTP server with misbehaving routes, and capture installed for one test."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from httprecap import wire
from httprecap.internal import bootstrap


class Collector:
    """Stands in for the extension's collector: validates every batch with wire.validate_batch."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.batches: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    batch = json.loads(body)
                    messages = wire.validate_batch(batch)
                except (ValueError, wire.WireError) as exc:
                    collector.refused.append(str(exc))
                    self._reply(400)
                    return
                with collector.lock:
                    collector.batches.append(batch)
                    collector.messages.extend(messages)
                self._reply(202)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m["k"] == kind]

    def calls(self) -> list[dict[str, Any]]:
        return [m["call"] for m in self.of_kind("call")]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting for the collector"
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Handler(BaseHTTPRequestHandler):
    """Routes: /ok, /slow?ms=N, /redirect?to=PATH, /status/N, /drop (closes, no reply),
    /echo (replies with the request body), /flaky?key=K (503 first, then 200)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms stalls
    flaky_seen: set[str] = set()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/slow":
            time.sleep(int(query.get("ms", "100")) / 1000)
        if url.path == "/redirect":
            self._reply(302, b"", (("Location", query.get("to", "/ok")),))
        elif url.path.startswith("/status/"):
            self._reply(int(url.path.rsplit("/", 1)[1]), b"status")
        elif url.path == "/drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif url.path == "/flaky":
            first = query.get("key", "") not in Handler.flaky_seen
            Handler.flaky_seen.add(query.get("key", ""))
            self._reply(503 if first else 200, b"flaky")
        elif url.path == "/echo":
            self._reply(200, body)
        else:
            self._reply(200, b"hello world")

    def _reply(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Set-Cookie", "session=s3cr3t")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or hang up early are part of the tests


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """Base URL of a loopback HTTP server (see Handler for the routes)."""
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    instance = Collector()
    yield instance
    instance.close()


class Capture:
    """Capture installed in this process, reporting to `collector`."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def start(self, **settings: str) -> None:
        environ = {"HTTPRECAP_PORT": str(self.collector.port)}
        environ.update({f"HTTPRECAP_{name.upper()}": value for name, value in settings.items()})
        assert bootstrap.install(environ)

    def calls(self) -> list[dict[str, Any]]:
        """Every call record handed over so far (after flushing the sender)."""
        sender = bootstrap.sender()
        assert sender is not None and sender.flush(5.0)
        return self.collector.calls()

    def only_call(self) -> dict[str, Any]:
        calls = self.calls()
        assert len(calls) == 1, calls
        return calls[0]


@pytest.fixture
def capture(collector: Collector) -> Iterator[Capture]:
    """Call `capture.start(**settings)` in the test; everything is undone afterwards."""
    instance = Capture(collector)
    yield instance
    bootstrap.uninstall()


@pytest.fixture
def installed(capture: Capture) -> Capture:
    """Capture with the default settings."""
    capture.start()
    return capture
