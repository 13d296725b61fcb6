"""Collect: takes the internal extension's batches on 127.0.0.1:$HTTPRECAP_PORT (extension process).

`POST /v1/batch` (see httprecap.wire for the contract). Every input is bounded before it is
buffered (Content-Length against wire.MAX_BODY_BYTES, read deadlines against slow clients,
a fixed number of connections). A batch that cannot be read as a whole (not JSON, another
version, too large) is refused with a 4xx and a one-line reason; within a readable batch a
message (or a row of `calls`) that breaks the contract costs only itself: it is counted in the
`dropped` of the invocation it names (`wire.sort_batch`), or, naming none (the function
process always names one), with the refused batches; the first of each kind is logged.

The connection is kept alive: the sender reuses one. When it closes and the process that
posted on it is gone, that process died (`os._exit`, a signal, memory exhaustion): the
aggregator closes its open invocations at once (`Aggregator.process_gone`) instead of waiting
for telemetry that may not exist (AWS SAM local) or for the deadline.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from httprecap import wire
from httprecap.external import log
from httprecap.external.http11 import Reply, Server, ServerLimits

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from json import JSONDecoder
    from typing import Any

    from httprecap.external.aggregate.store import Aggregator
    from httprecap.external.http11 import Peer, Request
    from httprecap.wire import Batch

LOOPBACK = "127.0.0.1"  # never 0.0.0.0: only the function process, on this host, may post
# A sender's kept-alive connection is held as long as Lambda's longest function timeout: its
# closing is how a dying process is noticed (see `Collector.closed`), and one closed while idle
# is reopened only at the process's next post.
LIMITS = ServerLimits(max_body=wire.MAX_BODY_BYTES, max_connections=32, read_timeout=2.0,
                      idle_timeout=900.0)
# How long a closed connection's process may take to show as exited before it counts as alive
# (the kernel closes a dying process's files before it becomes a zombie).
GONE_PATIENCE_S = 0.25


class Collector:
    """The /v1/batch handler: parse, validate, hand to the aggregator; count what it refuses."""

    def __init__(self, aggregator: Aggregator) -> None:
        self._aggregator = aggregator
        self._lock = threading.Lock()
        self._rejected: Counter[str] = Counter()
        self.accepted = 0
        self._server: Server | None = None

    def handle(self, request: Request) -> Reply:
        if request.path.split("?")[0] != wire.PATH:
            return self._refuse(404, "notFound", f"unknown path; POST batches to {wire.PATH}")
        if request.method != "POST":
            return self._refuse(405, "badMethod", "only POST is accepted")
        try:
            batch = _decode(request.body)
        except (ValueError, UnicodeError, RecursionError):  # deep nesting: not our JSON
            return self._refuse(400, "notJson", "body is not JSON")
        try:
            sorted_batch = wire.sort_batch(batch)
        except wire.WireError as exc:
            return self._refuse(400, "invalid", str(exc))
        if sorted_batch.drops:
            self._dropped(sorted_batch.drops)
        self._aggregator.apply_batch(sorted_batch, _posting_pid(batch, request))
        with self._lock:
            self.accepted += 1
        return Reply.text(202, "accepted")

    def _dropped(self, drops: list[tuple[str | None, str, str]]) -> None:
        """Log the first message dropped for each reason; count those that name no invocation
        here (the recaps count the others)."""
        for request_id, reason, why in drops:
            where = "in its recap" if request_id is not None else "in no recap"
            log.warning_once(f"collect:{reason}", f"dropped a message posted to the "
                             f"collector ({why}); counted {where} under {reason}")
            if request_id is None:
                with self._lock:
                    self._rejected[reason] += 1

    def closed(self, connection: Peer) -> None:
        """A sender's connection closed: if its process is gone, its open invocations end."""
        pid = connection.tag
        if isinstance(pid, int) and process_gone(pid):
            log.debug(f"process {pid} is gone")
            self._aggregator.process_gone(pid)

    def _refuse(self, status: int, reason: str, line: str) -> Reply:
        with self._lock:
            self._rejected[reason] += 1
        log.warning_once(f"collect:{reason}", f"refused a batch from the function process: {line}")
        return Reply.text(status, line)

    @property
    def rejected(self) -> Counter[str]:
        """Refused requests by reason, including those the listener refused before parsing,
        and messages dropped from accepted batches that named no invocation."""
        with self._lock:
            counts = Counter(self._rejected)
        if self._server is not None:
            counts.update(self._server.rejected)
        return counts

    def listen(self, port: int, limits: ServerLimits = LIMITS) -> Server:
        """Bind 127.0.0.1:`port` and start serving; OSError if the port is taken."""
        self._server = Server(LOOPBACK, port, self.handle, limits, "httprecap-collector",
                              on_close=self.closed)
        return self._server.start()


def _posting_pid(batch: Batch, request: Request) -> int | None:
    """The posting process's pid, kept with its connection (see `Collector.closed`); the
    contract does not require it, so `wire.sort_batch` has not checked it."""
    pid = batch.get("pid")
    if type(pid) is not int or pid <= 0:
        return None
    request.connection.tag = pid
    return pid


def _decode(body: bytes) -> Any:
    """The batch as JSON values, every string valid Unicode.

    NaN and the infinities (which Python's json reads, but no JSON reader need) become null,
    so only the message holding one fails its checks. A lone surrogate (escaped as \\udXXX
    by a sender that did not replace it) would fail every UTF-8 encoding downstream; parsed
    values are walked to replace them only when the body holds such an escape at all.
    """
    if not _decoder:
        import json  # loaded by the warm-up after start-up (see lambda_api/extensions.py)

        _decoder.append(json.JSONDecoder(parse_constant=_no_constant))
    batch = _decoder[0].decode(body.decode("utf-8"))
    if b"\\ud" in body or b"\\uD" in body:
        batch = wire.valid_value(batch)
    return batch


_decoder: list[JSONDecoder] = []


def _no_constant(name: str) -> None:
    return None


def process_gone(pid: int, patience_s: float = GONE_PATIENCE_S) -> bool:
    """Whether process `pid` has exited (or is a zombie), within `patience_s`: the kernel
    closes a dying process's sockets before it shows as exited."""
    deadline = time.monotonic() + patience_s
    while True:
        if not _alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _alive(pid: int) -> bool:
    """Whether `pid` runs, as /proc tells (a zombie has exited), else as the kernel does."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
    except FileNotFoundError:
        return False
    except OSError:
        return _signalable(pid)
    return state not in ([b"Z"], [b"X"], [b"x"])


def _signalable(pid: int) -> bool:
    """Without /proc: whether `pid` exists (a zombie does, until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: it exists
        return True
    return True
