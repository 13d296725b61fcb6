"""Capture: the size of a request body that is not in memory, as it is sent (runs in the function
process, on the user's thread, only for such bodies).

A body in memory (bytes, str) or one whose ``Content-Length`` the client declared has a size
already (call.py `note_request`). What remains is a stream the client sends chunked, or whose
length it works out itself:

- a regular file opened in binary mode: what is left of it from where it stands now
  (``os.fstat`` size minus ``tell``), exact and without touching what the client reads;
- any other iterable or readable (a generator, a ``BytesIO``, botocore's ``AwsChunkedWrapper``
  with its aws-chunked encoding, a socket file): the client is handed a counting proxy
  (`counted`) that adds each piece it yields to the call's ``bytes_sent`` as the client takes
  it. The proxy keeps what clients look for on a body: ``read`` only if the body has it (so
  ``hasattr(body, "read")`` and ``iter(body)`` choose the same way), ``tell`` and ``seek`` (a
  rewind for a retry or a redirect, urllib3's ``set_file_position``, starts the count over),
  and every other attribute through ``__getattr__``. It stands where the client keeps its
  arguments, never in the user's hands: the requests call puts the user's body back on the
  ``PreparedRequest`` when the call returns.

A text stream (``io.TextIOBase``) is left alone: clients encode it themselves (http.client as
ISO-8859-1, urllib3 as UTF-8), and those checks are ``isinstance`` checks a proxy would fail.
Its size stays unknown, as does that of a body a client consumes some other way.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from httprecap.internal import diagnostics

if TYPE_CHECKING:
    from httprecap.internal.transport.record import Record

IN_MEMORY = (bytes, bytearray, memoryview, str)


def file_size(body: Any) -> int | None:
    """What a regular binary file has left to send from its current position, else None."""
    try:
        if isinstance(body, io.TextIOBase):
            return None
        fileno = getattr(body, "fileno", None)
        tell = getattr(body, "tell", None)
        if fileno is None or tell is None:
            return None
        status = os.fstat(fileno())
        if not stat.S_ISREG(status.st_mode):  # a pipe, a socket: fstat says nothing
            return None
        return max(status.st_size - int(tell()), 0)
    except Exception:  # not logged: a probe (BytesIO's fileno raises); None says "not a file"
        return None


def _buffer_size(body: Any) -> int | None:
    """The size of a body that is a buffer (an ``array``, an ``mmap``): clients send it
    whole, as they do bytes (a proxy would hide the buffer from their ``memoryview``)."""
    try:
        with memoryview(body) as view:
            return view.nbytes
    except TypeError:
        return None


def counted(call: Record, body: Any) -> Any:
    """`body` as the client should be handed it so that `call.bytes_sent` ends as the bytes
    sent: the body itself when its size is known now (set in the call), else a counting proxy;
    the body itself, unknown, when neither can be done safely. Never raises."""
    if body is None or isinstance(body, IN_MEMORY):
        return body
    try:
        size = _buffer_size(body)
        if size is None:
            size = file_size(body)
        if size is not None:
            call.bytes_sent = size
            return body
        if isinstance(body, io.TextIOBase):
            return body
        if hasattr(body, "read"):
            proxy: Any = CountedReader(body, call)
        elif hasattr(body, "__iter__"):
            proxy = CountedIterable(body, call)
        else:
            return body
        call.bytes_sent = 0
        return proxy
    except Exception as exc:
        diagnostics.swallowed("capture.sending.counted", exc)
        return body


def counted_arguments(call: Record, args: tuple[Any, ...], kwargs: dict[str, Any],
                      index: int | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A client method's `args` and `kwargs` with its ``body`` (positional at `index`, if it
    may be, or a keyword) as `counted` hands it over."""
    if index is not None and len(args) > index:
        return (*args[:index], counted(call, args[index]), *args[index + 1:]), kwargs
    if "body" in kwargs:
        kwargs["body"] = counted(call, kwargs["body"])
    return args, kwargs


def counted_async(call: Record, body: Any) -> Any:
    """`body` (an async iterable: aiohttp's ``data``) as a counting async generator; the body
    itself for anything else. Never raises."""
    if not hasattr(body, "__aiter__") or hasattr(body, "read") or \
            type(body).__module__.startswith("aiohttp"):  # (a payload aiohttp sizes itself)
        return body
    call.bytes_sent = 0
    return _count_async(body, call)


def add(call: Record, piece: Any) -> None:
    """Count `piece` as sent in `call`."""
    try:
        size = len(piece.encode("utf-8")) if isinstance(piece, str) else len(piece)
        call.bytes_sent = (call.bytes_sent or 0) + size
    except Exception as exc:
        diagnostics.swallowed("capture.sending.add", exc)


class CountedIterable:
    """An iterable body, counted as the client iterates it."""

    __slots__ = ("_body", "_call")

    def __init__(self, body: Any, call: Record) -> None:
        self._body = body
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        call = self._call
        for piece in self._body:
            add(call, piece)
            yield piece


class CountedReader:
    """A readable body, counted as the client reads it (module docstring)."""

    __slots__ = ("_body", "_call")

    def __init__(self, body: Any, call: Record) -> None:
        self._body = body
        self._call = call

    def read(self, *args: Any, **kwargs: Any) -> Any:
        piece = self._body.read(*args, **kwargs)
        add(self._call, piece)
        return piece

    def __iter__(self) -> Iterator[Any]:
        call = self._call
        for piece in self._body:
            add(call, piece)
            yield piece

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._body, name)
        if name == "seek":  # only if the body has it: clients look with getattr
            return partial(_rewind, self._call, value)
        return value


def _rewind(call: Record, seek: Any, *args: Any, **kwargs: Any) -> Any:
    """The body's `seek`: a rewind (a retry, a redirect) sends the body again."""
    position = seek(*args, **kwargs)
    call.bytes_sent = 0
    return position


async def _count_async(body: Any, call: Record) -> AsyncIterator[Any]:
    async for piece in body:
        add(call, piece)
        yield piece
