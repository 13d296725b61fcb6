"""Plumbing: a small HTTP/1.1 client and loopback server on raw sockets (extension process).

The extension talks HTTP three ways: to the Lambda control plane (Extensions and Telemetry
APIs), and as a server for the function process's batches and for Telemetry API deliveries.
All three are loopback, plain HTTP/1.1 with `Content-Length` bodies, so this module does only
that. The standard library's `http.client`/`http.server` would do too, but they import `email`
and `ssl` (about 40 ms), and the extension must be ready within 60 ms of launch.

The function process's sender (internal/transport/sender.py) has its own, smaller client:
the two processes share no code outside core/, and this module has no place there.

Every read has a deadline (not just a per-`recv` timeout), so a client that trickles bytes
(slow-loris) is cut off, and every size is bounded before anything is buffered.
"""

from __future__ import annotations

import _socket  # not `socket`: see "sockets" below
import threading
import time
from collections import Counter

# Start-up budget (ready within 60 ms of launch): `typing` and `dataclasses` (which pulls in
# `inspect`, `ast` and `dis`) cost tens of milliseconds, so types are named for mypy only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
REASONS = {
    200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Content Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented",
}


# -------------------------------------------------------------------------------- sockets
# The `socket` module is `_socket` (the sockets themselves) plus conveniences: it turns the
# constants into `enum` classes and imports `selectors` (with `select`, `math` and `array`),
# about 7 ms of the 60 ms start-up budget for nothing used here. These helpers do what
# socket.create_connection, socket.create_server and socket.socket.accept do, on the same
# socket objects.

Socket = _socket.socket


def resolvable(host: str) -> str | bytes:
    """`host` as getaddrinfo should get it: given a str, getaddrinfo loads the IDNA codec
    (with `re`, `stringprep` and `unicodedata`: ~6 ms of start-up), which only non-ASCII
    names need."""
    return host.encode() if host.isascii() else host


def ipv4_of(name: str) -> str | None:
    """The first IPv4 address `name` resolves to (OSError if it does not)."""
    infos = _socket.getaddrinfo(resolvable(name), None, _socket.AF_INET, _socket.SOCK_STREAM)
    return str(infos[0][4][0]) if infos else None


def connect(host: str, port: int, timeout: float | None) -> Socket:
    """A TCP connection to the first of `host`'s addresses that answers."""
    error: OSError = OSError(f"{host} resolved to no address")
    for family, kind, proto, _, address in _socket.getaddrinfo(
            resolvable(host), port, 0, _socket.SOCK_STREAM):
        sock = Socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return sock
    raise error


def listen(host: str, port: int, backlog: int) -> Socket:
    """A listening IPv4 socket on `host:port` (port 0: any free port)."""
    sock = Socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def accept(listener: Socket) -> Socket:
    """The next connection on `listener` (a blocking socket)."""
    descriptor, _ = listener._accept()  # type: ignore[attr-defined]  # socket.accept's own call
    return Socket(listener.family, listener.type, listener.proto, descriptor)


class ProtocolError(ValueError):
    """The peer broke HTTP/1.1 (or a bound); the message says how."""


class PeerClosed(ConnectionError):
    """The peer closed the connection before a complete message arrived."""


class _Reader:
    """Buffered reads from a socket, each bounded by an absolute monotonic deadline."""

    def __init__(self, sock: Socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def fill(self, deadline: float | None) -> None:
        if deadline is None:
            self._sock.settimeout(None)
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("read deadline passed")
            self._sock.settimeout(remaining)
        chunk = self._sock.recv(65536)
        if not chunk:
            raise PeerClosed("connection closed by peer")
        self._buffer += chunk

    def readline(self, limit: int, deadline: float | None) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > limit:
                raise ProtocolError("header line too long")
            self.fill(deadline)

    def read(self, size: int, deadline: float | None) -> bytes:
        while len(self._buffer) < size:
            self.fill(deadline)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_to_close(self, limit: int, deadline: float | None) -> bytes:
        try:
            while len(self._buffer) <= limit:
                self.fill(deadline)
        except PeerClosed:
            return self.read(len(self._buffer), deadline)
        raise ProtocolError("body too large")


def _read_head(reader: _Reader, deadline: float | None) -> tuple[str, dict[str, str]]:
    """Read a start line and its header fields (names lower-cased)."""
    start = reader.readline(MAX_HEAD_BYTES, deadline).decode("latin-1").strip()
    headers: dict[str, str] = {}
    size = len(start)
    while True:
        line = reader.readline(MAX_HEAD_BYTES, deadline)
        size += len(line)
        if size > MAX_HEAD_BYTES or len(headers) > MAX_HEADERS:
            raise ProtocolError("request head too large")
        text = line.decode("latin-1").strip()
        if not text:
            return start, headers
        name, sep, value = text.partition(":")
        if not sep:
            raise ProtocolError("malformed header line")
        headers[name.strip().lower()] = value.strip()


def _content_length(headers: dict[str, str]) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ProtocolError("malformed Content-Length")
    return int(raw)


def _read_chunked(reader: _Reader, limit: int, deadline: float | None) -> bytes:
    body = bytearray()
    while True:
        size_line = reader.readline(1024, deadline).split(b";")[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ProtocolError("malformed chunk size") from None
        if size == 0:
            while reader.readline(MAX_HEAD_BYTES, deadline).strip():
                pass  # trailer fields: none of our peers sends them, skip any
            return bytes(body)
        if len(body) + size > limit:
            raise ProtocolError("body too large")
        body += reader.read(size, deadline)
        reader.readline(16, deadline)


# --------------------------------------------------------------------------------- client


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class Connection:
    """One keep-alive HTTP/1.1 connection to `host:port`, reopened when the server closed it.

    Not thread-safe: each thread that talks to a server owns its own Connection.
    """

    def __init__(self, host: str, port: int, *, max_body: int = 8 * 1024 * 1024) -> None:
        self.host = host
        self.port = port
        self._max_body = max_body
        self._sock: Socket | None = None
        self._reader: _Reader | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._reader = None

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float | None = None, *,
                sent: Callable[[], None] | None = None) -> Response:
        """Send one request and read its response; `timeout` bounds the whole exchange.

        `sent` is called once the request is on the wire, before the response is read.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        reused = self._sock is not None
        try:
            return self._exchange(method, path, body, headers or {}, deadline, sent=sent)
        except ConnectionError:
            if not reused:
                raise
        # A kept-alive connection the server had already closed (idle timeout, a thaw after a
        # freeze): sending once more on a fresh connection is what every HTTP client does.
        return self._exchange(method, path, body, headers or {}, deadline, sent=sent)

    def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str],
                  deadline: float | None, *, sent: Callable[[], None] | None) -> Response:
        try:
            sock, reader = self._open(deadline)
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                    f"Content-Length: {len(body)}"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            if sent is not None:
                sent()
            response = self._read_response(reader, method, deadline)
        except (OSError, ProtocolError):
            self.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def _open(self, deadline: float | None) -> tuple[Socket, _Reader]:
        if self._sock is None or self._reader is None:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            self._sock = connect(self.host, self.port, timeout)
            self._reader = _Reader(self._sock)
        if deadline is not None:
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
        else:
            self._sock.settimeout(None)
        return self._sock, self._reader

    def _read_response(self, reader: _Reader, method: str, deadline: float | None) -> Response:
        start, headers = _read_head(reader, deadline)
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"malformed status line {start[:80]!r}")
        status = int(parts[1])
        length = _content_length(headers)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = _read_chunked(reader, self._max_body, deadline)
        elif length is not None:
            if length > self._max_body:
                raise ProtocolError("response body too large")
            body = reader.read(length, deadline)
        else:
            body = reader.read_to_close(self._max_body, deadline)
            self.close()
        return Response(status, headers, body)


# --------------------------------------------------------------------------------- server


class Peer:
    """One client connection, for the handler to remember something by (`tag`) until the
    server's `on_close` hears that it closed."""

    __slots__ = ("tag",)

    def __init__(self) -> None:
        self.tag: object = None


class Request:
    __slots__ = ("body", "connection", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes,
                 connection: Peer | None = None) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.connection = connection if connection is not None else Peer()


class Reply:
    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, body: bytes = b"",
                 content_type: str = "text/plain; charset=utf-8") -> None:
        self.status, self.body, self.content_type = status, body, content_type

    @classmethod
    def text(cls, status: int, line: str) -> Reply:
        return cls(status, (line + "\n").encode())


if TYPE_CHECKING:
    Handler = Callable[[Request], Reply]


class ServerLimits:
    """The bounds one listener enforces on every peer."""

    __slots__ = ("idle_timeout", "max_body", "max_connections", "read_timeout")

    def __init__(self, max_body: int, max_connections: int = 32, read_timeout: float = 2.0,
                 idle_timeout: float = 120.0) -> None:
        self.max_body = max_body
        self.max_connections = max_connections
        self.read_timeout = read_timeout  # from a request's first byte to its last
        self.idle_timeout = idle_timeout  # between requests on a kept-alive connection


class _Stats:
    __slots__ = ("lock", "rejected")

    def __init__(self) -> None:
        self.rejected: Counter[str] = Counter()
        self.lock = threading.Lock()

    def count(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] += 1


class Server:
    """A threaded HTTP/1.1 listener: one thread per connection, a bounded number of them."""

    def __init__(self, host: str, port: int, handler: Handler, limits: ServerLimits,
                 name: str = "httprecap-server", *,
                 on_close: Callable[[Peer], None] | None = None) -> None:
        self._handler = handler
        self._on_close = on_close  # told on the connection's thread, its slot already free
        self._limits = limits
        self._name = name
        self._stats = _Stats()
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._listener = listen(host, port, backlog=64)
        self.host, self.port = self._listener.getsockname()[:2]
        self._closed = False

    @property
    def rejected(self) -> Counter[str]:
        """Requests refused before reaching the handler, by reason."""
        with self._stats.lock:
            return Counter(self._stats.rejected)

    def start(self) -> Server:
        threading.Thread(target=self._accept_loop, name=self._name, daemon=True).start()
        return self

    def stop(self) -> None:
        self._closed = True
        try:  # not contextlib.suppress: contextlib costs start-up time (~1.5 ms)
            self._listener.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass  # never connected or already shut down: closing is all that is left
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock = accept(self._listener)
            except OSError:
                if self._closed:
                    return
                continue
            if not self._slots.acquire(blocking=False):
                self._stats.count("tooManyConnections")
                _refuse(sock)
                continue
            threading.Thread(target=self._serve, args=(sock,), name=f"{self._name}-conn",
                             daemon=True).start()

    def _serve(self, sock: Socket) -> None:
        peer = Peer()
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            reader = _Reader(sock)
            # A new connection must start its request within the read deadline: one that
            # connects and stays silent would otherwise hold a slot for the idle timeout.
            wait = self._limits.read_timeout
            while self._serve_one(sock, reader, wait, peer):
                wait = self._limits.idle_timeout
        except (OSError, ProtocolError):
            pass  # the peer went away or broke the protocol; its connection simply ends
        finally:
            sock.close()
            self._slots.release()
        if self._on_close is not None and peer.tag is not None:
            try:
                self._on_close(peer)
            except Exception:  # a bug must cost this notice, never the listener
                pass

    def _serve_one(self, sock: Socket, reader: _Reader, wait: float, peer: Peer) -> bool:
        """Serve one request that starts within `wait` s; return whether to keep the
        connection open."""
        if not reader.buffered:
            try:
                reader.fill(time.monotonic() + wait)
            except (PeerClosed, TimeoutError):
                return False
        deadline = time.monotonic() + self._limits.read_timeout
        try:
            request, keep_alive = self._read_request(reader, deadline, peer)
        except _Refusal as refusal:
            self._stats.count(refusal.reason)
            _send(sock, Reply.text(refusal.status, refusal.line), False, deadline)
            return False
        except TimeoutError:
            self._stats.count("readTimeout")
            _send(sock, Reply.text(408, "request not received in time"), False,
                  time.monotonic() + 0.1)
            return False
        reply = self._call_handler(request)
        _send(sock, reply, keep_alive, time.monotonic() + self._limits.read_timeout)
        return keep_alive

    def _read_request(self, reader: _Reader, deadline: float,
                      peer: Peer) -> tuple[Request, bool]:
        try:
            start, headers = _read_head(reader, deadline)
            method, path, version = start.split(" ")
            if not (method.isalpha() and method.isupper() and version.startswith("HTTP/1.")):
                raise ProtocolError("not an HTTP/1.x request line")
            length = _content_length(headers)
        except (ProtocolError, ValueError, UnicodeError):
            raise _Refusal(400, "malformed request head", "malformedHead") from None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _Refusal(501, "chunked bodies are not accepted; send Content-Length",
                           "chunked")
        if length is None and method in ("POST", "PUT"):
            raise _Refusal(411, "Content-Length is required", "noLength")
        if (length or 0) > self._limits.max_body:
            raise _Refusal(413, f"body larger than {self._limits.max_body} bytes", "tooLarge")
        body = reader.read(length or 0, deadline)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        return Request(method, path, headers, body, peer), keep_alive

    def _call_handler(self, request: Request) -> Reply:
        try:
            return self._handler(request)
        except Exception as exc:  # a bug must cost one reply, never the listener
            self._stats.count("handlerError")
            return Reply.text(500, f"internal error: {type(exc).__name__}")


class _Refusal(Exception):
    def __init__(self, status: int, line: str, reason: str) -> None:
        super().__init__(line)
        self.status, self.line, self.reason = status, line, reason


def _send(sock: Socket, reply: Reply, keep_alive: bool, deadline: float) -> None:
    head = (f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}\r\n"
            f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:  # not contextlib.suppress: see Server.stop
        sock.sendall(head.encode("latin-1") + reply.body)
    except OSError:
        pass  # the peer left; nothing more to tell it


def _refuse(sock: Socket) -> None:
    try:
        # 429, not 503: the client is told it is one too many (a 4xx, like every refusal).
        _send(sock, Reply.text(429, "too many connections"), False, time.monotonic() + 0.1)
    finally:
        sock.close()
