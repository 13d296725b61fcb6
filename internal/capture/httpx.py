"""Capture: wraps httpx's ``Client.send`` and ``AsyncClient.send`` (runs in the function process).

``send`` is where every httpx request passes, whether made with ``get``/``request``/``stream``
or built by hand, so each is seen once; it opens the call. Inside it httpx follows redirects
and auth rounds (digest) itself, calling ``_send_single_request`` once per request it puts on
the wire: those runs are the call's attempts, as urllib3's ``_make_request`` runs are.

- A sync call is parked in call.py's thread-local, so a user's transport built on urllib3 (or
  requests) steps aside inside it and is not counted again; the attempts that urllib3 lists
  for a hop are kept (they are the finer wire view) instead of the hop's own.
- An async call rides on asynccall's context variable: gathered tasks never see each other's.
- Streaming: ``send`` returns when the response headers arrive (``stream=True``, and
  ``Client.stream``), so the call's duration ends there; its body, read later, is followed
  (`_follow`): the call is handed over when the body ends (read to its end, broken, closed)
  or at the latest when its invocation ends, with the raw bytes that came and, if it broke
  (``RemoteProtocolError``, a read timeout), that error. Without ``stream`` httpx reads the
  body inside ``send``: the duration includes it and the size is the body's.
- A proxy (``proxy=``, or the environment's with ``trust_env``) is a mount of the client:
  only a client with mounts looks for one, and the one serving the URL is noted beside it.

httpx's own transport speaks through httpcore, not urllib3 or http.client, so nothing below
``send`` records a second call. This module is imported only once httpx is (see
``bootstrap._deferred``). Tested with httpx 0.28; should ``_send_single_request`` (private)
go away, calls are still recorded, only without their hops listed.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter, time_ns
from types import ModuleType
from typing import Any

from httprecap.internal import diagnostics, patching
from httprecap.internal.capture import asynccall, connections, reading, sending
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import runs as pool_runs
from httprecap.internal.transport.record import Attempt

LIBRARY = "httpx"
# httpx's own transports: whose pools open connections where capture/connections.py sees it.
POOLED = frozenset({"HTTPTransport", "AsyncHTTPTransport"})
BODY = reading.BODY


def _request_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs["request"]


def _describe(call: calls.Call, client: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    request = _request_of(args, kwargs)
    call.method = request.method
    call.target = str(request.url)
    content = request.__dict__.get("_content")  # set when the body is in memory
    calls.note_request(call, content, request.headers)
    if content is None:  # a streamed upload: only its declared length is known
        call.bytes_sent = calls.header_length(request.headers.get("content-length"))
    if getattr(client, "_mounts", None):
        call.proxy = _proxy_of(client, request.url)
    # `send` sets the client's on a request built without one (transport/timeouts.py).
    call.timeout = request.extensions.get("timeout") or client.timeout
    call.pooled = getattr(client, "_transport", None).__class__.__name__ in POOLED


def _proxy_of(client: Any, url: Any) -> tuple[str, int] | None:
    """The proxy of the transport mounted for `url`, if it is one (httpcore's); None when
    that cannot be told (a transport of the user's)."""
    try:
        pool = getattr(client._transport_for_url(url), "_pool", None)
        proxy = getattr(pool, "_proxy_url", None)
        if proxy is None:
            return None
        port = proxy.port or (443 if proxy.scheme == b"https" else 80)
        return proxy.host.decode("ascii"), int(port)
    except Exception as exc:
        diagnostics.swallowed("capture.httpx.proxy_of", exc)
        return None


def _outcome(call: calls.Call, response: Any) -> None:
    calls.note_response(call, response.status_code, response, "_content")
    if "_content" in response.__dict__:  # read: its size as it came (before decompression)
        call.bytes_received = response.num_bytes_downloaded


def _follow(call: calls.Call, response: Any) -> Any:
    """Close `call` with `response`: now if httpx read its body inside `send`, else once the
    user is done with the body it streams (module docstring). Never raises."""
    try:
        if "_content" in response.__dict__:  # read inside `send`
            calls.close(call, result=response, outcome=_outcome)
            return response
        _outcome(call, response)
        body = _Body()
        reading.follow(call, response, body, _following(type(response)))
    except Exception as exc:
        diagnostics.swallowed("capture.httpx.follow", exc)
        calls.close(call)
    return response


def _ended(response: Any, exc: BaseException | None, whole: bool) -> None:
    """`response`'s body was read to its end, broke with `exc`, or was closed: it is no
    longer followed, and its call goes to the sink. Never raises."""
    try:
        response.__class__ = response.__class__._httprecap_followed
        call, body = response.__dict__.pop(BODY)
        body.received = response.num_bytes_downloaded  # raw: before decompression
        body.whole = whole
        if exc is not None:
            body.error = calls.describe_error(exc)
        reading.body_done(call)
    except Exception as failure:
        diagnostics.swallowed("capture.httpx.ended", failure)


class _Body(reading.Body):
    """A streamed body: `stepping` while httpx's own `iter_raw` runs a step, where it closes
    the response once the stream is exhausted (a close in the user's loop is not that)."""

    __slots__ = ("stepping",)

    def __init__(self) -> None:
        super().__init__()
        self.stepping = False


def _iter_raw(self: Any, *args: Any, **kwargs: Any) -> Any:
    """`iter_raw` of a response whose body is followed (every sync read goes through it)."""
    chunks = self.__class__._httprecap_followed.iter_raw(self, *args, **kwargs)
    body = self.__dict__[BODY][1]
    while True:
        body.stepping = True
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except BaseException as exc:
            _failed(self, exc)
            raise
        finally:
            body.stepping = False
        try:
            yield chunk
        except GeneratorExit:  # the user stopped reading: not a failure of the body
            chunks.close()
            raise
    if BODY in self.__dict__:
        _ended(self, None, True)


async def _aiter_raw(self: Any, *args: Any, **kwargs: Any) -> Any:
    """`aiter_raw` of a response whose body is followed (every async read goes through it)."""
    chunks = self.__class__._httprecap_followed.aiter_raw(self, *args, **kwargs)
    body = self.__dict__[BODY][1]
    while True:
        body.stepping = True
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except BaseException as exc:
            _failed(self, exc)
            raise
        finally:
            body.stepping = False
        try:
            yield chunk
        except GeneratorExit:
            await chunks.aclose()
            raise
    if BODY in self.__dict__:
        _ended(self, None, True)


def _failed(response: Any, exc: BaseException) -> None:
    if BODY in response.__dict__:
        _ended(response, exc, False)


def _close(self: Any) -> None:
    followed = self.__class__._httprecap_followed
    if BODY in self.__dict__:
        _ended(self, None, self.__dict__[BODY][1].stepping)
    followed.close(self)


async def _aclose(self: Any) -> None:
    followed = self.__class__._httprecap_followed
    if BODY in self.__dict__:
        _ended(self, None, self.__dict__[BODY][1].stepping)
    await followed.aclose(self)


# What a followed response does differently: its raw reads and its close end the following.
_FOLLOWING = {"iter_raw": _iter_raw, "aiter_raw": _aiter_raw, "close": _close,
              "aclose": _aclose}
_classes: dict[type, type] = {}


def _following(cls: type) -> type:
    """`cls` as its followed response's class (capture/reading.py `following_class`)."""
    return reading.following_class(cls, _FOLLOWING, _classes)


_ASYNC = asynccall.Client(LIBRARY, _describe, _outcome, follow=_follow)


def _send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    call = calls.open_call(LIBRARY, _describe, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        # Passed on, never bound here: a kept traceback through this frame would keep it.
        return _follow(call, wrapped(*args, **kwargs))
    except BaseException as exc:
        calls.close(call, exc=exc)
        raise


def _send_async(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    if not calls.capturing():  # the user's coroutine, without our frame
        return wrapped(*args, **kwargs)
    return asynccall.run(_ASYNC, wrapped, instance, args, kwargs)


class _Hop:
    """One request httpx puts on the wire (the first, a redirect hop or an auth round)."""

    __slots__ = ("call", "listed", "runs", "started_us", "t0", "target")

    def __init__(self, call: calls.Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.call = call
        self.listed = len(call.attempts or ())
        self.runs = pool_runs.count(call.runs)
        self.started_us = time_ns() // 1000
        self.t0 = perf_counter()
        # The first hop sends the request `send` was given: its URL is the call's already
        # (turning an httpx URL into text costs microseconds).
        self.target = call.target if not self.listed else _url_text(args, kwargs)

    def answered(self, response: Any) -> Any:
        try:
            self._list(response.status_code, None)
        except Exception as exc:
            diagnostics.swallowed("capture.httpx.hop.answered", exc)
        return response

    def failed(self, exc: BaseException) -> None:
        try:
            self._list(None, calls.describe_error(exc))
        except Exception as failure:
            diagnostics.swallowed("capture.httpx.hop.failed", failure)

    def _list(self, status: int | None, error: tuple[str, str] | None) -> None:
        call = self.call
        if pool_runs.count(call.runs) != self.runs or len(call.attempts or ()) > self.listed:
            return  # an inner client (a urllib3 transport) lists this hop's wire attempts
        duration_ms = (perf_counter() - self.t0) * 1000.0
        # No size: the call's own comes from its final response (see _outcome).
        calls.add_attempt(call, Attempt(self.started_us, duration_ms, status, error, None,
                                        self.target, None))


def _url_text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        return str(_request_of(args, kwargs).url)
    except Exception as exc:
        diagnostics.swallowed("capture.httpx.url_text", exc)
        return ""


def _send_single_request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
    call = calls.current()
    if call is None:
        return wrapped(*args, **kwargs)
    hop = _Hop(call, args, kwargs)
    stream = None if call.bytes_sent is not None else _count_stream(call, args, kwargs)
    try:
        return hop.answered(wrapped(*args, **kwargs))  # (passed on, never bound here)
    except BaseException as exc:
        hop.failed(exc)
        raise
    finally:
        if stream is not None:
            _request_of(args, kwargs).stream = stream


def _count_stream(call: calls.Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A streamed upload (``content=`` an iterator): the request's stream is handed to httpx
    counted for this hop (capture/sending.py), and the user's own put back after it; returns
    that one, or None when nothing was swapped. Never raises."""
    try:
        request = _request_of(args, kwargs)
        stream = request.stream
        counting = _Types.counted_for(stream)
        if counting is None:
            return None
        request.stream = counting(stream, call)
        call.bytes_sent = call.bytes_sent or 0
        return stream
    except Exception as exc:
        diagnostics.swallowed("capture.httpx.count_stream", exc)
        return None


class _Types:
    """The counting request streams, built on httpx's stream types when httpx is patched: one
    per kind (sync, async, both), since httpx refuses a sync client an async stream and the
    reverse by the stream's type, and must go on doing so."""

    sync: type | None = None
    asynchronous: type | None = None
    counted: dict[tuple[bool, bool], type] = {}

    @classmethod
    def counted_for(cls, stream: Any) -> type | None:
        """The counting type standing for `stream`'s kind; None if it is one already."""
        if cls.sync is None or cls.asynchronous is None or \
                getattr(stream, "_httprecap_counted", False):
            return None
        kind = (isinstance(stream, cls.sync), isinstance(stream, cls.asynchronous))
        return cls.counted.get(kind)


def _counted_stream_types(module: ModuleType) -> None:
    """Build `_Types`' counting streams, counting what httpx takes from the stream each
    stands for."""
    sync, asynchronous = (getattr(module, "SyncByteStream", None),
                          getattr(module, "AsyncByteStream", None))
    if not isinstance(sync, type) or not isinstance(asynchronous, type):
        return

    def __init__(self: Any, stream: Any, call: calls.Call) -> None:
        self._stream, self._call = stream, call

    def __iter__(self: Any) -> Any:
        for piece in self._stream:
            sending.add(self._call, piece)
            yield piece

    async def __aiter__(self: Any) -> Any:
        async for piece in self._stream:
            sending.add(self._call, piece)
            yield piece

    def close(self: Any) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    async def aclose(self: Any) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()

    common = {"__init__": __init__, "_httprecap_counted": True, "__module__": __name__}
    sync_part = {"__iter__": __iter__, "close": close}
    async_part = {"__aiter__": __aiter__, "aclose": aclose}
    _Types.sync, _Types.asynchronous = sync, asynchronous
    _Types.counted = {
        (True, False): type("CountedStream", (sync,), {**common, **sync_part}),
        (False, True): type("CountedStream", (asynchronous,), {**common, **async_part}),
        (True, True): type("CountedStream", (sync, asynchronous),
                           {**common, **sync_part, **async_part}),
    }


def _send_single_request_async(wrapped: Callable[..., Any], instance: Any,
                               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # httpx awaits this coroutine at once, in the task that opened the call.
    call = asynccall.current()
    if call is None:
        return wrapped(*args, **kwargs)
    return _timed_hop(call, wrapped, args, kwargs)


async def _timed_hop(call: calls.Call, wrapped: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
    hop = _Hop(call, args, kwargs)
    stream = None if call.bytes_sent is not None else _count_stream(call, args, kwargs)
    try:
        return hop.answered(await wrapped(*args, **kwargs))  # (passed on, never bound here)
    except BaseException as exc:
        hop.failed(exc)
        raise
    finally:
        if stream is not None:
            _request_of(args, kwargs).stream = stream


def patch(module: ModuleType) -> None:
    """Post-import hook for ``httpx``: patch where each method is defined, once."""
    _counted_stream_types(module)
    connections.patch(connections.patch_httpcore)  # (loaded by httpx)
    for class_name, send, hop in (
        ("Client", _send, _send_single_request),
        ("AsyncClient", _send_async, _send_single_request_async),
    ):
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            continue
        for method, wrapper in (("send", send), ("_send_single_request", hop)):
            owner = patching.defining_class(cls, method)
            if owner is not None:
                patching.wrap(owner, method, wrapper)
