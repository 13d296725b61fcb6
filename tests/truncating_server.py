"""A loopback HTTP server whose bodies break midway (dev time, tests only): every response
declares ``Content-Length: DECLARED`` and sends ``SENT`` bytes of it, then the connection
ends: closed (FIN) for any path, reset (RST) for ``/reset``. ``/slow`` waits ``PAUSE_S``
before the partial body, so a client's call returns at the head first. Each request's
request-line is logged in ``requests``."""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType

DECLARED = 1000
SENT = 100
PAUSE_S = 0.3


class TruncatingServer:
    """A context manager: serves on 127.0.0.1 from a thread; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._serve, name="truncating", daemon=True)

    def __enter__(self) -> TruncatingServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            self.requests.append(line)
            path = line.split(" ")[1] if " " in line else "/"
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                               + f"Content-Length: {DECLARED}\r\n\r\n".encode())
            if path.startswith("/slow"):
                time.sleep(PAUSE_S)
            connection.sendall(b"x" * SENT)
            time.sleep(0.05)  # the partial body arrives before the end
            if path.startswith("/reset"):
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
