"""Collect: takes the internal extension's batches on 127.0.0.1:$HTTPRECAP_PORT (extension process).

`POST /v1/batch` (see httprecap.wire for the contract). Every input is bounded before it is
buffered (Content-Length against wire.MAX_BODY_BYTES, read deadlines against slow clients,
a fixed number of connections) and validated as a whole before any of it is applied, so a bad
batch is refused with a 4xx and a one-line reason and never touches an invocation's recap.
The connection is kept alive: the sender reuses one.
"""

from __future__ import annotations

import threading
from collections import Counter

from httprecap import wire
from httprecap.external import log
from httprecap.external.http11 import Reply, Server, ServerLimits

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.store import Aggregator
    from httprecap.external.http11 import Request

LOOPBACK = "127.0.0.1"  # never 0.0.0.0: only the function process, on this host, may post
LIMITS = ServerLimits(max_body=wire.MAX_BODY_BYTES, max_connections=32, read_timeout=2.0,
                      idle_timeout=120.0)


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
        import json  # loaded by the warm-up after start-up (see lambda_api/extensions.py)

        try:
            batch = json.loads(request.body)
        except (ValueError, UnicodeError, RecursionError):  # deep nesting: not our JSON
            return self._refuse(400, "notJson", "body is not JSON")
        try:
            messages = wire.validate_batch(batch)
        except wire.WireError as exc:
            return self._refuse(400, "invalid", str(exc))
        self._aggregator.apply(messages)
        with self._lock:
            self.accepted += 1
        return Reply.text(202, "accepted")

    def _refuse(self, status: int, reason: str, line: str) -> Reply:
        with self._lock:
            self._rejected[reason] += 1
        log.warning_once(f"collect:{reason}", f"refused a batch from the function process: {line}")
        return Reply.text(status, line)

    @property
    def rejected(self) -> Counter[str]:
        """Refused requests by reason, including those the listener refused before parsing."""
        with self._lock:
            counts = Counter(self._rejected)
        if self._server is not None:
            counts.update(self._server.rejected)
        return counts

    def listen(self, port: int, limits: ServerLimits = LIMITS) -> Server:
        """Bind 127.0.0.1:`port` and start serving; OSError if the port is taken."""
        self._server = Server(LOOPBACK, port, self.handle, limits, "httprecap-collector")
        return self._server.start()
