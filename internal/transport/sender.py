"""Transport: the background sender that posts batches to the extension (function process).

One daemon thread drains the buffer into batches of ``httprecap.wire`` messages and POSTs them
to ``http://127.0.0.1:$HTTPRECAP_PORT/v1/batch`` over one kept-alive connection. It posts at
once when an invocation ends or a batch is full; when a call has been running for
``NOTICE_AFTER_MS`` (a `start` notice for it, so one that never finishes is still named, and
whatever finished meanwhile goes along); otherwise it holds finished calls for at most
``HOLD_S``. Every post wakes the extension, whose work would compete with the handler for
the CPU (a function has one vCPU up to 1,769 MB): a short invocation is posted once, after
its response. The `hello` goes with the first post (at the latest, the init phase's `end`),
not at start-up, where it would compete with the function's own imports. Encoding and
redaction happen here, and the thread's CPU time is reported as ``overheadUs`` in each `end`.

The connection is a raw socket speaking just enough HTTP/1.1: http.client would be captured
by our own hooks, and the function's traffic is the only traffic we record. It is not the
extension's client (external/http11.py): the function process never imports the extension's
package (tests/packaging/test_boundaries.py guards that), and sharing one would mean moving
http11's client, server and limits into core/, loaded by every function process for the one
POST and status line needed here. When the
extension refuses or does not answer, a circuit breaker backs off exponentially, drops (and
counts) what arrives meanwhile and logs one line; the user's threads never wait for it.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import httprecap
from httprecap import wire
from httprecap.internal import diagnostics
from httprecap.internal.transport.buffer import Buffer
from httprecap.internal.transport.record import End, Record

# Start-up budget: `socket` (with the enum, selectors, select and array it imports, ~2.5 ms)
# loads on the sender thread when it first connects, not at interpreter start; so do json
# and the encoder's modules (`Sender.encoder`).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    from httprecap.internal.transport.encode import Calls, Encoder
    from httprecap.internal.transport.record import Running
    from httprecap.wire import EndMessage, HelloMessage

TICK_S = 0.05  # cadence of the checks while calls are pending or in flight
NOTICE_AFTER_MS = 20.0  # a call running longer than this gets a `start` notice
HOLD_S = 0.2  # finished calls wait at most this long (+ a tick) for a reason to post
MAX_BATCH_BYTES = 1024 * 1024
CONNECT_TIMEOUT_S = 0.25
REPLY_TIMEOUT_S = 1.0
TRANSPORT = "transport"
ENCODING = "encoding"


class TransportError(Exception):
    """The extension refused, closed, or did not answer in time."""


class Connection:
    """A kept-alive HTTP/1.1 connection to the collector on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def post(self, body: bytes) -> int:
        """POST one batch; the reply's status. Raises OSError or TransportError."""
        head = (f"POST {wire.PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        request = head.encode("ascii") + body
        reused = self.sock is not None
        try:
            return self._exchange(request)
        except (OSError, TransportError):
            self.close()
            if not reused:
                raise
        # The collector may close an idle kept-alive connection: one fresh try.
        try:
            return self._exchange(request)
        except (OSError, TransportError):
            self.close()
            raise

    def _exchange(self, request: bytes) -> int:
        if self.sock is None:
            import socket

            self.sock = socket.create_connection(("127.0.0.1", self.port), CONNECT_TIMEOUT_S)
            self.sock.settimeout(REPLY_TIMEOUT_S)
        self.sock.sendall(request)
        status, keep_alive = _read_reply(self.sock)
        if not keep_alive:
            self.close()
        return status

    def abort(self) -> None:
        """Unblock a send or receive in progress on the sender thread (stop)."""
        sock = self.sock
        if sock is not None:
            import socket

            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()  # socket.close() ignores an already closed descriptor


def _read_reply(sock: socket.socket) -> tuple[int, bool]:
    """Status and keep-alive of one HTTP/1.1 reply; its body is read and ignored."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise TransportError("connection closed before a reply")
        data += chunk
        if len(data) > 65536:
            raise TransportError("reply headers too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise TransportError(f"bad status line {lines[0][:80]!r}") from None
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines[1:])}
    remaining = int(headers.get("content-length", "0") or 0) - len(rest)
    while remaining > 0:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise TransportError("connection closed inside a reply")
        remaining -= len(chunk)
    return status, headers.get("connection", "").lower() != "close"


class Breaker:
    """Exponential back-off after failures; logs the first one, once per process."""

    def __init__(self, port: int, log: Callable[[str], None]) -> None:
        self.port = port
        self.log = log
        self.failures = 0
        self.open_until = 0.0
        self.logged = False

    def closed(self) -> bool:
        return time.monotonic() >= self.open_until

    def failure(self, reason: str) -> None:
        self.failures += 1
        self.open_until = time.monotonic() + min(0.05 * 2 ** min(self.failures - 1, 10), 30.0)
        if not self.logged:
            self.logged = True
            self.log(f"httprecap: the extension on 127.0.0.1:{self.port} is not answering "
                     f"({reason}); calls are dropped and counted until it does")

    def success(self) -> None:
        self.failures = 0
        self.open_until = 0.0


class Sender:
    """The background thread: drains `buffer`, encodes with the encoder `encoding` makes,
    posts to `port`; asks capture for the calls still `running` on any thread (to announce
    those that take long). `helper`: a child serving its parent's invocation, which says so in
    its hello.

    The encoder is made when the thread first posts: its modules (json, the redaction rules)
    load then, on this thread, not at interpreter start beside the function's own imports."""

    def __init__(self, buffer: Buffer, encoding: Callable[[], Encoder], port: int,
                 running: Running, *, helper: bool = False,
                 log: Callable[[str], None] = diagnostics.write) -> None:
        self.buffer = buffer
        self.encoding = encoding
        self._encoder: Encoder | None = None
        self.running = running
        self.connection = Connection(port)
        self.breaker = Breaker(port, log)
        self.pid = os.getpid()
        self.seq = 0
        self.hello_sent = False
        self.helper = helper
        self.sent_calls: dict[str, int] = {}  # calls delivered per request id, until its end
        # The `end`s in the batch being posted: (end, calls delivered before, drops it
        # carries, whether to post it again if the batch is refused).
        self.batch_ends: list[tuple[End, int, dict[str, int], bool]] = []
        self.cpu_ns = 0  # this thread's CPU time not yet reported in an `end`
        self.cpu_mark = 0  # thread CPU clock when the current round of work began
        self.busy = False
        self.stopping = False
        self.held_since: float | None = None  # when finished calls began to wait for a post
        self.round_done = threading.Event()  # set after each round of posts (`flush` waits)
        self.thread = threading.Thread(target=self._run, name="httprecap-sender", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self.stopping = True
        self.buffer.wake()
        self.connection.abort()
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.connection.close()

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait until everything queued has been handed over (tests, process exit)."""
        deadline = time.monotonic() + timeout
        while self.buffer.items or self.busy or not self.hello_sent:
            if (time.monotonic() >= deadline or not self.thread.is_alive()
                    or not self.breaker.closed()):
                return False
            self.buffer.wake()
            # A helper child waits here after each call: woken by the round's end, not a poll.
            self.round_done.wait(0.002)
            self.round_done.clear()
        return True

    def _run(self) -> None:
        while not self.stopping:
            self._wait()
            if self.stopping:
                break
            if not self._due():
                continue
            self.cpu_mark = time.thread_time_ns()
            self.busy = True
            try:
                self._send_pending()
            except Exception as exc:
                diagnostics.swallowed("transport.sender.send_pending", exc)
            finally:
                self.busy = False
                self.cpu_ns += time.thread_time_ns() - self.cpu_mark
                self.round_done.set()

    def _wait(self) -> None:
        buffer = self.buffer
        if not self.breaker.closed():
            time.sleep(max(0.0, min(self.breaker.open_until - time.monotonic(), TICK_S)))
        elif self._pending():
            buffer.event.wait(TICK_S)
        else:
            # Idle: sleep until a call starts (the Lambda sandbox is frozen meanwhile anyway).
            buffer.sender_idle = True
            if not self._pending():
                buffer.event.wait()
            buffer.sender_idle = False
        buffer.event.clear()

    def _pending(self) -> bool:
        """Whether anything is queued, or a call is running (to be watched)."""
        buffer = self.buffer
        if buffer.items or buffer.inflight:
            return True
        try:
            return any(True for _ in self.running())
        except RuntimeError:  # a thread started meanwhile: look again next time
            return True

    def _due(self) -> bool:
        """Whether to post now (see the module's docstring)."""
        buffer = self.buffer
        if buffer.urgent:
            buffer.urgent = False
            self.held_since = None
            return True
        now = time.perf_counter()
        if buffer.items:
            if self.held_since is None:
                self.held_since = now
            elif now - self.held_since >= HOLD_S:
                self.held_since = None
                return True
        if self._unnoticed(now):
            self.held_since = None
            return True
        return False

    def _unnoticed(self, now: float) -> list[Record]:
        """Calls running for `NOTICE_AFTER_MS` or more that no `start` notice announced yet,
        once located on the wire: one answered without it (a mock) leaves no trace."""
        try:
            running = (*self.running(), *self.buffer.inflight)
        except RuntimeError:  # a thread started, or the set changed, under us: next tick
            return []
        threshold = now - NOTICE_AFTER_MS / 1000.0
        return [call for call in running
                if not call.noticed and call.t0 <= threshold and call.on_wire()]

    def _send_pending(self) -> None:
        """Post what is queued now, in as many batches as it takes. What is queued meanwhile
        waits for the next reason to post: chasing it would post again after every few calls
        while the function keeps calling, and wake the extension each time."""
        left = len(self.buffer.items)
        while True:
            parts, counts, calls, taken = self._next_batch(left)
            if not parts:
                return
            self._post(parts, counts, calls)
            left -= taken
            if left <= 0 or not self.buffer.items:
                return

    def _next_batch(self, limit: int) -> tuple[list[str], dict[str, int], int, int]:
        """Encoded messages of up to `limit` queued items, the calls per request id among
        them, how many calls, and how many items were taken. Consecutive calls of one
        invocation go as one `calls` message, written before whatever follows them (their
        `end`)."""
        parts: list[str] = []
        counts: dict[str, int] = {}
        self.batch_ends = []
        if not self.hello_sent:
            parts.append(_encode(self._hello()))
        items, add_call = self.buffer.items, self.encoder().add_call
        calls = size = taken = 0
        group: Calls | None = None
        limit = min(limit, wire.MAX_MESSAGES - 100)
        # This loop runs once per call: calls are written inline, other messages aside.
        while taken < limit and items and size < MAX_BATCH_BYTES:
            item = items.popleft()
            taken += 1
            try:
                if isinstance(item, Record):
                    request_id = item.request_id
                    if group is None or group.request_id != request_id:
                        _close(group, parts)
                        group = self.encoder().calls(request_id)
                    size += add_call(group, item)
                    counts[request_id] = counts.get(request_id, 0) + 1
                    calls += 1
                    continue
                _close(group, parts)
                group = None
                if isinstance(item, End):
                    encoded = _encode(self._end(item, counts))
                elif type(item) is _Refused:
                    encoded = _encode(self._end(item.end, counts, again=False))
                else:
                    continue
            except Exception as exc:
                diagnostics.swallowed("transport.sender.encode", exc)
                self.buffer.drop(ENCODING)
                continue
            parts.append(encoded)
            size += len(encoded)
        _close(group, parts)
        parts += self._notices(wire.MAX_MESSAGES - len(parts) - calls)
        return parts, counts, calls, taken

    def _end(self, end: End, counts: dict[str, int], again: bool = True) -> EndMessage:
        """The `end` message; `again`: if its batch is refused, post it once more alone."""
        delivered = self.sent_calls.pop(end.request_id, 0)
        calls = delivered + counts.pop(end.request_id, 0)
        now = time.thread_time_ns()
        overhead_us = (self.cpu_ns + now - self.cpu_mark) // 1000
        self.cpu_ns, self.cpu_mark = 0, now
        dropped = self.buffer.take_dropped()
        self.batch_ends.append((end, delivered, dropped, again))
        message: EndMessage = {
            "k": "end", "requestId": end.request_id, "status": end.status, "calls": calls,
            "startedAtUs": end.started_us, "durationMs": end.duration_ms, "dropped": dropped,
            "overheadUs": max(overhead_us, 0)}
        if end.tenant_id is not None:
            message["tenantId"] = wire.valid_text(end.tenant_id)[:wire.MAX_TENANT_ID]
        return message

    def encoder(self) -> Encoder:
        """The encoder, made at its first use."""
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = self.encoding()
        return encoder

    def _notices(self, room: int) -> list[str]:
        """`start` notices for calls running for a while and not yet announced."""
        notices: list[str] = []
        for call in self._unnoticed(time.perf_counter()):
            if len(notices) >= room:
                break
            try:
                notices.append(self.encoder().start_message(call))
                call.noticed = True
            except Exception as exc:
                diagnostics.swallowed("transport.sender.start_notice", exc)
        return notices

    def _hello(self) -> HelloMessage:
        hello: HelloMessage = {"k": "hello", "pid": self.pid, "python": sys.version.split()[0],
                 "version": httprecap.__version__}
        if self.helper:
            hello["helper"] = True
        return hello

    def _post(self, parts: list[str], counts: dict[str, int], calls: int) -> None:
        if not self.breaker.closed():
            self._lost(calls)
            return
        self.seq += 1
        body = (f'{{"v":{wire.VERSION},"pid":{self.pid},"seq":{self.seq},"messages":['
                + ",".join(parts) + "]}").encode("utf-8")
        try:
            status = self.connection.post(body)
        except (OSError, TransportError) as exc:
            self.breaker.failure(type(exc).__name__)
            self._lost(calls)
            return
        self.breaker.success()
        if status >= 300:
            # Refused as a whole (a bug on one side, or too many connections): the calls are
            # counted, not posted again; each `end` is, once, alone, so its recap still ships
            # and shows the loss (a refused `end` would leave it to the deadline, uncounted).
            self._lost(calls)
            self._post_ends_again()
            return
        self.hello_sent = True
        for request_id, count in counts.items():
            self.sent_calls[request_id] = self.sent_calls.get(request_id, 0) + count

    def _lost(self, calls: int) -> None:
        """The batch did not arrive: its calls are counted, and the drop counts its `end`s
        carried go back to the buffer, for the next `end` that does."""
        if calls:
            self.buffer.drop(TRANSPORT, calls)
        for _, _, dropped, _ in self.batch_ends:
            for reason, count in dropped.items():
                self.buffer.drop(reason, count)

    def _post_ends_again(self) -> None:
        """Queue the refused batch's `end`s (first tries only) ahead of everything else."""
        for end, delivered, _, again in reversed(self.batch_ends):
            if again:
                self.sent_calls[end.request_id] = delivered
                self.buffer.items.appendleft(_Refused(end))
        self.batch_ends = []


class _Refused:
    """An `end` whose batch the extension refused, queued to be posted once more."""

    __slots__ = ("end",)

    def __init__(self, end: End) -> None:
        self.end = end


def _close(group: Calls | None, parts: list[str]) -> None:
    """Add the `calls` message being written, if it holds any row, to the batch's `parts`."""
    if group is not None and group.rows:
        parts.append(group.message())


def _encode(message: HelloMessage | EndMessage) -> str:
    import json  # (loaded by the encoder at the first post: not at interpreter start)

    return json.dumps(message, separators=(",", ":"))
