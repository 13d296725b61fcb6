"""Ship: the `stdout` sink, one JSON line per recap (extension process).

Lambda sends the extension's stdout to CloudWatch Logs, one event per line, where Logs Insights
can query the fields directly. An event is at most 256 KiB, so longer recaps are trimmed
(see trim.py) rather than split or lost. Each line carries the recap's `level` and `timestamp`:
with the function's JSON log format, Lambda drops a line below its application log level
(docs/RECAP.md, *Level and timestamp*).
"""

from __future__ import annotations

import sys

from httprecap.external.ship.sink_base import Sink
from httprecap.external.ship.trim import fit_line

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import BinaryIO

    from httprecap.external.ship.sink_base import Entry

CLOUDWATCH_EVENT_LIMIT = 256 * 1024
# CloudWatch counts 26 bytes of overhead per event; keep a margin for any prefix Lambda adds.
LINE_LIMIT = CLOUDWATCH_EVENT_LIMIT - 1024
PIPE_BYTES = 1024 * 1024  # Linux's default for unprivileged processes' largest pipe
_widened: set[int] = set()


def write_lines(stream: BinaryIO | None, lines: list[str]) -> None:
    """Write whole lines in one call, so lines of two sinks never interleave."""
    target = stream if stream is not None else sys.stdout.buffer
    if id(target) not in _widened:
        _widened.add(id(target))
        widen_pipe(target)
    target.write("".join(line + "\n" for line in lines).encode())
    target.flush()


def widen_pipe(stream: BinaryIO) -> None:
    """Make room in the pipe Lambda reads our stdout from for several full-size lines.

    A write to a pipe returns only once its reader (Lambda's log agent) has taken all but
    the pipe's size, 64 KiB by default on Linux: a 256 KiB line would wait for the reader
    four times while the invocation is billed. Where a bigger pipe is refused, or stdout is
    no pipe, writes simply behave as before.
    """
    import os  # once, on the first write: not on the start-up path
    import stat

    try:
        import fcntl  # not on Windows

        descriptor = stream.fileno()
        if stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            fcntl.fcntl(descriptor, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, ImportError, OSError, ValueError):  # tests' streams, not Linux
        pass


class StdoutSink(Sink):
    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    def send(self, entries: list[Entry]) -> list[Entry]:
        write_lines(self._stream, [fit_line(entry, LINE_LIMIT) for entry in entries])
        return []
