"""Loopback servers the benchmarks talk to, in one child process (dev-time, 127.0.0.1 only).

- `upstream`: a minimal HTTP/1.1 keep-alive server answering every request with a small JSON
  body. Much faster than any real upstream (≈ 50 µs of server time per request), so the
  share of time any instrumentation adds is shown at its largest.
- `otlp`: an OTLP/HTTP receiver (answers 200 with an empty ExportTraceServiceResponse).
- `collector`: stands in for httprecap's extension in the in-process micro-benchmark (202).
- `xray`: a UDP port playing the X-Ray daemon; it counts the segments it gets.

They run in a child process so their work never holds the benchmark process's GIL, and it
counts what each received (`Servers.counts()`): a peer that silently recorded nothing would
make its figures meaningless, so the suite checks that every configuration really sent data.

    python -m bench.servers     # prints {"upstream": port, ...} on one line; stops at EOF
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
BODY = b'{"items": [1, 2, 3]}'
REPLIES = {
    "upstream": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY),
    "otlp": b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
    "collector": b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
}
STATS_PATH = b"/__counts"


class _Counts:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()

    def as_json(self) -> bytes:
        body = json.dumps({"requests": self.requests, "bytes": self.bytes}).encode()
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, int] | None:
    """(request line, body size) of the next request on a kept-alive connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    lines = head.split(b"\r\n")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return lines[0], length


def _http_handler(name: str, counts: _Counts):  # type: ignore[no-untyped-def]
    reply = REPLIES[name]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await _read_request(reader)) is not None:
                line, size = request
                if STATS_PATH in line:
                    writer.write(counts.as_json())
                else:
                    counts.requests[name] += 1
                    counts.bytes[name] += size
                    writer.write(reply)
        finally:
            writer.close()
    return handle


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.counts.requests["xray"] += 1
        self.counts.bytes["xray"] += len(data)


async def _serve() -> None:
    counts = _Counts()
    ports: dict[str, int] = {}
    for name in REPLIES:
        server = await asyncio.start_server(_http_handler(name, counts), "127.0.0.1", 0)
        ports[name] = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(counts),
                                                       local_addr=("127.0.0.1", 0))
    ports["xray"] = transport.get_extra_info("sockname")[1]
    print(json.dumps(ports), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    # Open keep-alive connections would be cancelled noisily by asyncio.run's clean-up.
    os._exit(0)


class Servers:
    """The child process; use as a context manager. `ports` maps server name -> port."""

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self._child: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Servers:
        self._child = subprocess.Popen([sys.executable, "-m", "bench.servers"], cwd=ROOT,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the loopback servers did not start")
        self.ports = json.loads(line)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._child is not None:
            if self._child.stdin is not None:
                self._child.stdin.close()
            try:
                self._child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            self._child = None

    def url(self, name: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def counts(self) -> dict[str, dict[str, int]]:
        """What each server has received so far: {"requests": {...}, "bytes": {...}}."""
        import http.client

        with self._lock:
            connection = http.client.HTTPConnection("127.0.0.1", self.ports["upstream"],
                                                    timeout=5)
            try:
                connection.request("GET", STATS_PATH.decode())
                found: dict[str, dict[str, int]] = json.loads(connection.getresponse().read())
            finally:
                connection.close()
        return found


if __name__ == "__main__":
    asyncio.run(_serve())
