"""Capture: a urllib3 response's body read after its call returned (runs in the function
process, on the user's thread, only for such bodies).

requests with ``stream=True`` and urllib3 with ``preload_content=False`` return at the
response's head; the user reads the body later (``iter_content``, ``.content``, ``stream``,
``read``), and it may break midway. Such a call is finished at the head and handed over by
capture/reading.py once its body is done: read to its end, broken, released or closed, at the
latest when its invocation ends. The body is followed on the one response object (its class
swapped for a subclass, as capture/http_client.py does), so no other response pays for it.

What came is counted as it came off the wire, before any content decoding (`wire_read`). An
error that broke the body is the one the user saw: urllib3's, or for requests the one requests
raised in its place (``ChunkedEncodingError`` for urllib3's ``ProtocolError``, and so on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from httprecap.internal import diagnostics
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import reading
from httprecap.internal.capture.runs import wire_done, wire_read

BODY = reading.BODY
# What requests and botocore (StreamingBody) raise in place of urllib3's errors while they
# read a body.
RAISED_INSTEAD = {
    "requests": {"ProtocolError": "ChunkedEncodingError", "DecodeError": "ContentDecodingError",
                 "ReadTimeoutError": "ConnectionError", "SSLError": "SSLError"},
    "botocore": {"ProtocolError": "ResponseStreamingError",
                 "ReadTimeoutError": "ReadTimeoutError"}}


class _Body(reading.Body):
    """A followed body, and whether a read runs (a read method calling another, or releasing
    the connection, ends it once)."""

    __slots__ = ("depth", "library")

    def __init__(self, library: str) -> None:
        super().__init__()
        self.depth = 0
        self.library = library


def follow(call: calls.Call, raw: Any) -> str | None:
    """Follow `raw`'s body if it is still to come (returns `calls.LATER`: reading.py hands
    the call over); else None: the call closes now. Never raises."""
    try:
        if call.bytes_received == 0 or wire_done(raw):
            return None  # no body (HEAD, 204, 304, empty), or nothing more comes
        body = _Body(call.library)
        reading.follow(call, raw, body, _following(type(raw)))
        return calls.LATER
    except Exception as exc:
        diagnostics.swallowed("capture.urllib3_body.follow", exc)
        return None


def _ended(raw: Any, exc: BaseException | None) -> None:
    """`raw`'s body was read to its end, broke with `exc`, or was released or closed: it is no
    longer followed, and its call goes to the sink. Never raises."""
    try:
        raw.__class__ = raw.__class__._httprecap_followed
        call, body = raw.__dict__.pop(BODY)
        body.received = wire_read(raw)
        if exc is not None:
            body.error = _error_seen(body.library, exc)
            body.received += _partial(exc)
        elif wire_done(raw):
            body.whole = True
            remaining = getattr(raw, "length_remaining", None)
            if remaining:  # closed short of its Content-Length (urllib3 1.26 does not say)
                body.error = ("IncompleteRead", f"IncompleteRead({body.received} bytes read, "
                              f"{remaining} more expected)")
        reading.body_done(call)
    except Exception as failure:
        diagnostics.swallowed("capture.urllib3_body.ended", failure)


def _error_seen(library: str, exc: BaseException) -> tuple[str, str] | None:
    """The error the user saw: urllib3's, or requests' or botocore's in its place."""
    error = calls.describe_error(exc)
    instead = RAISED_INSTEAD.get(library)
    if instead is None or error is None:
        return error
    for kind in type(exc).__mro__:
        seen = instead.get(kind.__name__)
        if seen is not None:
            return seen, error[1]
    return error


def _partial(exc: BaseException) -> int:
    """The bytes an http.client ``IncompleteRead`` under `exc` did read (urllib3 did not
    count them)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return 0
        partial = getattr(seen, "partial", None)
        if isinstance(partial, bytes):
            return len(partial)
        seen = seen.__cause__ or seen.__context__
    return 0


def _read(raw: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run the response class's read method `name`; its body ends if the wire is done."""
    followed = raw.__dict__.get(BODY)
    method = getattr(raw.__class__._httprecap_followed, name)
    if followed is None or followed[1].depth:
        return method(raw, *args, **kwargs)
    body = followed[1]
    body.depth += 1
    try:
        data = method(raw, *args, **kwargs)
    except BaseException as exc:
        body.depth -= 1
        _ended(raw, exc)
        raise
    body.depth -= 1
    if BODY in raw.__dict__ and wire_done(raw):
        _ended(raw, None)
    return data


def _stream(raw: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> Iterator[Any]:
    """Run the response class's generator `name` (``stream``, ``read_chunked``) step by step;
    its body ends when the wire is done or a step raises."""
    chunks = getattr(raw.__class__._httprecap_followed, name)(raw, *args, **kwargs)
    followed = raw.__dict__.get(BODY)
    if followed is None or followed[1].depth:
        yield from chunks
        return
    body = followed[1]
    while True:
        body.depth += 1
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except BaseException as exc:
            body.depth -= 1
            _ended(raw, exc)
            raise
        body.depth -= 1
        try:
            yield chunk
        except GeneratorExit:  # the user stopped reading: not a failure of the body
            chunks.close()
            raise
    body.depth -= 1
    if BODY in raw.__dict__ and wire_done(raw):
        _ended(raw, None)


def _letting_go(name: str) -> Callable[..., Any]:
    """``release_conn``/``close``: outside a read, the body is done (whole if the wire is)."""
    def let_go(self: Any, *args: Any, **kwargs: Any) -> Any:
        followed = self.__dict__.get(BODY)
        method = getattr(self.__class__._httprecap_followed, name)
        if followed is not None and not followed[1].depth:
            _ended(self, None)
        return method(self, *args, **kwargs)

    let_go.__name__ = let_go.__qualname__ = name
    return let_go


def _reader(name: str) -> Callable[..., Any]:
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _read(self, name, args, kwargs)

    read.__name__ = read.__qualname__ = name
    return read


def _streamer(name: str) -> Callable[..., Any]:
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _stream(self, name, args, kwargs)

    stream.__name__ = stream.__qualname__ = name
    return stream


_classes: dict[type, type] = {}


def _methods(cls: type) -> dict[str, Any]:
    """What a followed response of `cls` does differently: its reads may end the body, and
    releasing or closing it does."""
    return {**{name: _reader(name) for name in ("read", "read1") if hasattr(cls, name)},
            **{name: _streamer(name) for name in ("stream", "read_chunked")
               if hasattr(cls, name)},
            **{name: _letting_go(name) for name in ("release_conn", "close")}}


def _following(cls: type) -> type:
    """`cls` as its followed response's class (capture/reading.py `following_class`)."""
    return reading.following_class(cls, _methods(cls), _classes)
