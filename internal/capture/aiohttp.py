"""Capture: wraps aiohttp's ``ClientSession._request`` and ``ClientResponse.start`` (runs in the
function process, on the event loop's thread).

Every request of a session (``get``, ``request``, ``ws_connect``, the module-level
``aiohttp.request``) is one run of ``_request``, which opens the call; aiohttp follows
redirects and retries a dropped kept-alive connection inside it, reading each response's head
with ``ClientResponse.start``, whose runs are the call's attempts. The open call rides on
asynccall's context variable, so gathered tasks never mix their calls.

Why not aiohttp's public tracing hooks (``TraceConfig``)? They are handed to a session when it
is built, so we would have to rewrite every session's ``trace_configs`` (a list the user owns
and may inspect); each traced request then builds a Trace and awaits several signals, which
costs more than the two wrappers here; ``on_request_start`` fires once per request, not per
hop, so hops would be no better timed; and only ``_request`` sees the exception the user gets
(aiohttp turns the total timeout's cancellation into ``asyncio.TimeoutError`` around it).

Hops are timed end to end: a hop starts when the previous one's headers arrived (or when the
call began) and ends when its own headers arrive, so it includes connecting and sending.
A hop that fails before its response (a redirect to a refused port) is listed from the
exception the call ends with, when that is a connection error, a timeout or a cancellation;
other errors (``raise_for_status``, ``TooManyRedirects``, the user's own) are about the last
response, which is listed already.

aiohttp returns from ``_request`` once the response's head is read; the body is read later by
the user. So a call's duration ends at its head, as for httpx's streamed responses. A body
that came whole with the head (most small ones) closes the call then (its size from
Content-Length); any other is followed (`_follow`): the call is handed over when the body
ends (its stream's end, or the response released or closed), or at the latest when its
invocation ends, with the bytes that arrived and, if the body broke (``ClientPayloadError``),
that error. ``proxy=`` (the request's or the session's) is noted beside the target.
Tested with aiohttp 3.14. This module is imported only once aiohttp is (see
``bootstrap._deferred``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import perf_counter
from types import ModuleType
from typing import Any

from httprecap.internal import diagnostics, patching
from httprecap.internal.capture import asynccall, connections, reading, sending
from httprecap.internal.capture import call as calls
from httprecap.internal.transport.record import Attempt

LIBRARY = "aiohttp"
# Where a redirect leads, kept on the call (Call has no __slots__) in case that hop fails.
NEXT_TARGET = "_httprecap_next_target"
REDIRECTS = (301, 302, 303, 307, 308)
CALL = "_httprecap_call"  # on a response whose body is followed: its call


class _Types:
    """Exceptions that mean a request failed on the wire (set when aiohttp is patched)."""

    wire_errors: tuple[type[BaseException], ...] = ()


def _describe(call: calls.Call, session: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    call.method = str(args[0] if args else kwargs.get("method", "")).upper()
    url = args[1] if len(args) > 1 else kwargs.get("str_or_url")
    build_url = getattr(session, "_build_url", None)  # joins the session's base_url
    call.target = str(build_url(url) if build_url is not None else url)
    body = kwargs.get("data")
    calls.note_request(call, body, kwargs.get("headers"))
    if call.bytes_sent is None and body is not None:
        # An async iterable, sent chunked: handed to aiohttp counted (capture/sending.py).
        # These are the very arguments `_request` runs with (asynccall.run).
        kwargs["data"] = sending.counted_async(call, body)
    if body is None and kwargs.get("json") is not None:
        call.bytes_sent = None  # known once aiohttp has encoded it: see _first_hop
    # The request's timeout, else the session's (transport/timeouts.py).
    call.timeout = kwargs.get("timeout", session)
    proxy = kwargs.get("proxy") or getattr(session, "_default_proxy", None)
    if proxy is not None:
        call.proxy = str(proxy)  # user-info and all: the sender keeps host and port only


def _outcome(call: calls.Call, response: Any) -> None:
    call.status = response.status
    call.bytes_received = calls.received_length(call.method, response.status,
                                                response.headers.get("Content-Length"))
    if calls.options.headers:
        call.response_headers = calls.header_pairs(response.headers)


def _follow(call: calls.Call, response: Any) -> None:
    """Close `call` with `response`'s head: now if its body came with it, else once the body
    is done (module docstring). Never raises."""
    try:
        _outcome(call, response)
        content = response.content
        if content.is_eof():  # (most small bodies): its size as it came
            _settle(content, call)
            calls.close(call)
            return
        response.__dict__[CALL] = call
        response.__class__ = _following(type(response))
        reading.close_later(call, partial(_settle, content))
        content.on_eof(partial(reading.body_done, call))
    except Exception as exc:
        diagnostics.swallowed("capture.aiohttp.follow", exc)
        calls.close(call)


def _settle(content: Any, call: calls.Call) -> None:
    """What the body came to, if it arrived whole or broke: the bytes that arrived (on the
    wire: before decompression) and the error that broke it. A body released early or never
    read keeps the size its head declared, as every client's unread body does."""
    error = content.exception()
    if error is not None and not _released(error):
        call.error = calls.describe_error(error)
    elif not content.is_eof() or call.bytes_received is not None:
        return  # (a whole body's Content-Length is exact: aiohttp checks it)
    total = getattr(content, "total_raw_bytes", None)  # (aiohttp 3.12 and later)
    call.bytes_received = total if isinstance(total, int) else content.total_bytes


def _released(error: BaseException) -> bool:
    """The mark aiohttp leaves on the body of a response released before its end: not a
    failure of the body."""
    return type(error).__name__ == "ClientConnectionError" and str(error) == "Connection closed"


def _ended(response: Any) -> None:
    """The user released or closed `response`: its body is done; it is no longer followed."""
    try:
        response.__class__ = response.__class__._httprecap_followed
        call = response.__dict__.pop(CALL, None)
        if call is not None:
            reading.body_done(call)  # before aiohttp marks the body as cut short
    except Exception as exc:
        diagnostics.swallowed("capture.aiohttp.ended", exc)


def _release(self: Any) -> Any:
    """`release` of a response whose body is followed."""
    followed = self.__class__._httprecap_followed
    _ended(self)
    return followed.release(self)


def _close(self: Any) -> None:
    """`close` of a response whose body is followed."""
    followed = self.__class__._httprecap_followed
    _ended(self)
    followed.close(self)


# What a followed response does differently: its release and close end the body's following.
_FOLLOWING = {"release": _release, "close": _close}
_classes: dict[type, type] = {}


def _following(cls: type) -> type:
    """`cls` as its followed response's class (capture/reading.py `following_class`)."""
    return reading.following_class(cls, _FOLLOWING, _classes)


def _request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
    if not calls.capturing():  # the user's coroutine, without our frame
        return wrapped(*args, **kwargs)
    return asynccall.run(_CLIENT, wrapped, instance, args, kwargs)


def _start(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> Any:
    # aiohttp awaits this coroutine at once, in the task that opened the call.
    call = asynccall.current()
    if call is None or instance.method == "CONNECT":  # (a proxy's tunnel: not a hop)
        return wrapped(*args, **kwargs)
    return _timed_start(call, wrapped, instance, args, kwargs)


async def _timed_start(call: calls.Call, wrapped: Callable[..., Any], response: Any,
                       args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        # Passed on, never bound here: a kept traceback through this frame would keep it.
        return _started(call, response, await wrapped(*args, **kwargs))
    except BaseException as exc:
        _list_hop(call, response, exc)
        raise
    finally:
        del response  # (the same object `start` returns)


def _started(call: calls.Call, response: Any, result: Any) -> Any:
    _list_hop(call, response, None)
    return result


def _list_hop(call: calls.Call, response: Any, exc: BaseException | None) -> None:
    try:
        if not call.attempts:
            _first_hop(call, response)
        target = str(response.url)
        if exc is not None:
            _add_hop(call, None, calls.describe_error(exc), target, None)
        else:
            size = calls.received_length(response.method, response.status,
                                         response.headers.get("Content-Length"))
            _add_hop(call, response.status, None, target, size)
            _note_redirect(call, response)
    except Exception as failure:
        diagnostics.swallowed("capture.aiohttp.list_hop", failure)


def _note_redirect(call: calls.Call, response: Any) -> None:
    location = response.headers.get("Location") if response.status in REDIRECTS else None
    if location:
        setattr(call, NEXT_TARGET, str(response.url.join(type(response.url)(location))))


def _first_hop(call: calls.Call, response: Any) -> None:
    """What only the first request on the wire tells: its full URL (params and base_url
    applied) and the headers aiohttp actually sent."""
    call.target = str(response.url)
    sent = response.request_info.headers
    length = calls.header_length(sent.get("Content-Length"))
    if length is not None:
        call.bytes_sent = length
    if calls.options.headers:
        call.request_headers = calls.header_pairs(sent)


def _add_hop(call: calls.Call, status: int | None, error: tuple[str, str] | None,
             target: str, size: int | None) -> None:
    # Hops are contiguous: this one began where the listed ones ended.
    listed_ms = sum(attempt.duration_ms for attempt in call.attempts or ())
    duration_ms = (perf_counter() - call.t0) * 1000.0 - listed_ms
    started_us = call.started_us + int(listed_ms * 1000)
    calls.add_attempt(call, Attempt(started_us, duration_ms, status, error, None, target, size))


def _failed(call: calls.Call, exc: BaseException) -> None:
    """The call ends with `exc`: list the hop it broke, if no listed hop already failed."""
    attempts = call.attempts
    if not attempts or attempts[-1].error is not None:
        return  # no hop listed (the call itself failed), or the failing hop is listed
    if not isinstance(exc, _Types.wire_errors):
        return  # about the last response (raise_for_status, TooManyRedirects, the user's)
    target = getattr(call, NEXT_TARGET, None) or attempts[-1].target
    _add_hop(call, None, calls.describe_error(exc), target, None)


def _wire_errors(module: ModuleType) -> tuple[type[BaseException], ...]:
    import asyncio  # loaded already: aiohttp is built on it

    errors = [OSError, asyncio.TimeoutError, asyncio.CancelledError]
    connection_error = getattr(module, "ClientConnectionError", None)
    if isinstance(connection_error, type) and issubclass(connection_error, BaseException):
        errors.append(connection_error)
    return tuple(errors)


_CLIENT = asynccall.Client(LIBRARY, _describe, _outcome, _failed, _follow)


def patch(module: ModuleType) -> None:
    """Post-import hook for ``aiohttp``: patch where each method is defined, once."""
    _Types.wire_errors = _wire_errors(module)
    connections.patch(connections.patch_aiohttp)  # (aiohttp.connector: loaded by aiohttp)
    for class_name, method, wrapper in (("ClientSession", "_request", _request),
                                        ("ClientResponse", "start", _start)):
        cls = getattr(module, class_name, None)
        owner = patching.defining_class(cls, method) if isinstance(cls, type) else None
        if owner is not None:
            patching.wrap(owner, method, wrapper)
