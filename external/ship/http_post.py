"""Ship: the `http(s)://URL` sink, a POST of a JSON array of recaps (extension process).

Recaps are batched (everything queued for this sink, up to `max_batch`, in one request) and
sent on a kept-alive connection; headers come from HTTPRECAP_HTTP_HEADERS. `http.client` (and
`ssl` for https) are imported on the sink's worker thread, off the start-up path.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from httprecap.external.ship.sink_base import Sink, SinkError

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.ship.sink_base import Entry

TIMEOUT = 5.0  # the run loop never waits this long: the ship budget bounds its wait


class HttpSink(Sink):
    max_batch = 100

    def __init__(self, url: str, headers: tuple[tuple[str, str], ...] = (),
                 timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected http(s)://host[:port]/path")
        # Logs name the sink by its URL without user-info or query: either may hold a key.
        self.name = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json", **dict(headers)}
        self._timeout = timeout
        self._connection: Any = None

    def prepare(self) -> None:
        import http.client  # noqa: F401 - loaded here so the first send pays nothing

    def _connect(self) -> Any:
        import http.client

        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout)
        return self._connection

    def _post(self, body: bytes) -> int:
        connection = self._connect()
        connection.request("POST", self._path, body, self._headers)
        response = connection.getresponse()
        response.read()
        if response.getheader("connection", "").lower() == "close":
            self.close()
        return int(response.status)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None

    def send(self, entries: list[Entry]) -> list[Entry]:
        body = ("[" + ",".join(entry.line() for entry in entries) + "]").encode()
        reused = self._connection is not None
        try:
            status = self._post(body)
        except (ConnectionError, OSError) as exc:
            self.close()
            if not reused:
                raise SinkError(f"POST {self.name} failed: {exc}") from exc
            status = self._retry(body)  # the server had closed our kept-alive connection
        if not 200 <= status < 300:
            raise SinkError(f"POST {self.name} answered {status}")
        return []

    def _retry(self, body: bytes) -> int:
        try:
            return self._post(body)
        except (ConnectionError, OSError) as exc:
            self.close()
            raise SinkError(f"POST {self.name} failed: {exc}") from exc
