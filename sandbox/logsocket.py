"""Log socket: where Lambda Managed Instances workers send their stdout and stderr
(dev-time sandbox process).

In LMI mode awslambdaric's forked workers connect to the Unix socket named by
`_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET` twice and `dup2` the connections onto fds 1 and 2
(`lambda_multi_concurrent_utils.py`). RAPID turns what arrives into `function` log lines; so
does this: every connection is read line by line into the same sink as the runtime's pipes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from httprecap.sandbox.processes import LineReader


class LogSocket:
    """Listens on a Unix socket; each connection becomes a LineReader feeding `on_line`."""

    def __init__(self, path: Path, on_line: Callable[[str], None]) -> None:
        self.path = path
        self._on_line = on_line
        self._readers: list[LineReader] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="log-socket")
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed
            # The reader owns a duplicate of the descriptor and closes it at EOF.
            reader = LineReader(os.dup(connection.fileno()), self._on_line)
            connection.close()
            with self._lock:
                self._readers.append(reader)

    def drain(self, timeout: float = 0.2) -> None:
        """Wait until every line written so far has been handled."""
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            reader.drain(timeout)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._thread.join(1.0)
