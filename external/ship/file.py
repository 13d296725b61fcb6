"""Ship: the `file://PATH` sink, JSON lines appended to a file (extension process).

Used locally and by the tests. Each batch is one `write` on a descriptor opened with
O_APPEND, so a reader tailing the file never sees half a line from us.
"""

from __future__ import annotations

import os

from httprecap.external.ship.sink_base import Entry, Sink, SinkError


class FileSink(Sink):
    max_batch = 1000

    def __init__(self, path: str) -> None:
        if not path:
            raise ValueError("file:// needs a path, e.g. file:///tmp/recaps.jsonl")
        self.path = path
        self.name = f"file://{path}"

    def send(self, entries: list[Entry]) -> list[Entry]:
        data = "".join(entry.line() + "\n" for entry in entries).encode()
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SinkError(f"cannot open {self.path}: {exc.strerror}") from exc
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror}") from exc
        finally:
            os.close(descriptor)
        return []
