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
    from collections.abc import Callable
    from typing import Any, BinaryIO
    from weakref import WeakKeyDictionary

    from httprecap.external.ship.sink_base import Entry

CLOUDWATCH_EVENT_LIMIT = 256 * 1024
# CloudWatch counts 26 bytes of overhead per event; keep a margin for any prefix Lambda adds.
LINE_LIMIT = CLOUDWATCH_EVENT_LIMIT - 1024
PIPE_BYTES = 1024 * 1024  # Linux's default for unprivileged processes' largest pipe
# Room left in the pipe beyond what a recap written at once takes: other sinks' lines (emf)
# may be written meanwhile.
NOW_MARGIN = 64 * 1024
# A stream -> the size of the pipe it writes to, None: not a pipe. Held weakly: a stream's
# id may be another stream's once it is gone (a test's pipe, say). Made at the first write
# (`weakref` is not on the start-up path).
_pipes: list[WeakKeyDictionary[BinaryIO, int | None]] = []
_last: list[tuple[BinaryIO, int | None]] = []  # the stream written to last, and its size
_unread: list[tuple[Callable[..., Any], int]] = []  # fcntl.ioctl and FIONREAD, once imported


def write_lines(stream: BinaryIO | None, lines: list[str]) -> None:
    """Write whole lines in one call, so lines of two sinks never interleave."""
    target = _target(stream)
    _pipe_size(target)
    _write(target, _joined(lines))


def _target(stream: BinaryIO | None) -> BinaryIO:
    return stream if stream is not None else sys.stdout.buffer


def _joined(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _write(target: BinaryIO, data: bytes) -> None:
    target.write(data)
    target.flush()


def _pipe_size(stream: BinaryIO) -> int | None:
    """The size of the pipe `stream` writes to, widened at the first call; None if it is no
    pipe (or not one this platform can tell)."""
    if _last and _last[0][0] is stream:  # (held: its id is no other stream's)
        return _last[0][1]
    if not _pipes:
        from weakref import WeakKeyDictionary

        _pipes.append(WeakKeyDictionary())
    sizes = _pipes[0]
    try:
        size = sizes[stream]
    except KeyError:
        size = sizes[stream] = widen_pipe(stream)
    except TypeError:  # a stream that cannot be referred to weakly: looked at each time
        return widen_pipe(stream)
    _last[:] = [(stream, size)]
    return size


def widen_pipe(stream: BinaryIO) -> int | None:
    """Make room in the pipe Lambda reads our stdout from for several full-size lines; the
    pipe's size then (None: no pipe).

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
        if not stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            return None
        try:
            fcntl.fcntl(descriptor, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # refused (a lower pipe-max-size): the pipe keeps its size
            pass
        return int(fcntl.fcntl(descriptor, fcntl.F_GETPIPE_SZ))
    except (AttributeError, ImportError, OSError, ValueError):  # tests' streams, not Linux
        return None


def pipe_room(stream: BinaryIO) -> int | None:
    """Bytes a write to the pipe `stream` writes to can take without waiting for its reader
    (None: no pipe, or not one this platform can tell)."""
    size = _pipe_size(stream)
    if size is None:
        return None
    try:
        if not _unread:
            import fcntl
            import termios

            _unread.append((fcntl.ioctl, termios.FIONREAD))
        ioctl, request = _unread[0]
        unread = bytearray(4)
        ioctl(stream.fileno(), request, unread)
    except (AttributeError, ImportError, OSError, ValueError):
        return None
    return size - int.from_bytes(unread, sys.byteorder, signed=True)


class StdoutSink(Sink):
    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    def send_now(self, entries: list[Entry]) -> bool:
        """Written at once when the pipe Lambda reads stdout from has room for the lines (and
        a margin): such a write returns without waiting for the reader."""
        target = _target(self._stream)
        room = pipe_room(target)
        if room is None:
            return False
        data = _joined(_lines(entries))
        if len(data) + NOW_MARGIN > room:
            return False
        _write(target, data)
        return True

    def send(self, entries: list[Entry]) -> list[Entry]:
        write_lines(self._stream, _lines(entries))
        return []


def _lines(entries: list[Entry]) -> list[str]:
    """Each entry's recap as a line CloudWatch takes whole."""
    return [fit_line(entry, LINE_LIMIT) for entry in entries]
