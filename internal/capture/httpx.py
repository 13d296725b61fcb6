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
  ``Client.stream``), so the record completes then: duration to headers, status, and the size
  from Content-Length; the body the user reads later is not waited for, and a stream never
  closed still yields its record. Without ``stream`` httpx reads the body inside ``send``: the
  duration includes it and the size is the body's. This matches requests' ``stream=True``.

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

from httprecap.internal import patching
from httprecap.internal.capture import asynccall
from httprecap.internal.capture import call as calls

LIBRARY = "httpx"


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


def _outcome(call: calls.Call, response: Any) -> None:
    calls.note_response(call, response.status_code, response, "_content")


_ASYNC = asynccall.Client(LIBRARY, _describe, _outcome)


def _send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    call = calls.open_call(LIBRARY, _describe, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    return calls.run(call, wrapped, args, kwargs, _outcome)


def _send_async(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    if calls.sink is None:  # not capturing: the user's coroutine, without our frame
        return wrapped(*args, **kwargs)
    return asynccall.run(_ASYNC, wrapped, instance, args, kwargs)


class _Hop:
    """One request httpx puts on the wire (the first, a redirect hop or an auth round)."""

    __slots__ = ("call", "listed", "runs", "started_us", "t0", "target")

    def __init__(self, call: calls.Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.call = call
        self.listed = len(call.attempts or ())
        self.runs = call.wire_runs
        self.started_us = time_ns() // 1000
        self.t0 = perf_counter()
        # The first hop sends the request `send` was given: its URL is the call's already
        # (turning an httpx URL into text costs microseconds).
        self.target = call.target if not self.listed else _url_text(args, kwargs)

    def answered(self, response: Any) -> None:
        try:
            self._list(response.status_code, None)
        except Exception:
            pass

    def failed(self, exc: BaseException) -> None:
        try:
            self._list(None, calls.describe_error(exc))
        except Exception:
            pass

    def _list(self, status: int | None, error: tuple[str, str] | None) -> None:
        call = self.call
        if call.wire_runs != self.runs or len(call.attempts or ()) > self.listed:
            return  # an inner client (a urllib3 transport) lists this hop's wire attempts
        duration_ms = (perf_counter() - self.t0) * 1000.0
        # No size: the call's own comes from its final response (see _outcome).
        calls._add_attempt(call, (self.started_us, duration_ms, status, error, None,
                                  self.target, None))


def _url_text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        return str(_request_of(args, kwargs).url)
    except Exception:
        return ""


def _send_single_request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
    call = calls.current()
    if call is None:
        return wrapped(*args, **kwargs)
    hop = _Hop(call, args, kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        hop.failed(exc)
        raise
    hop.answered(response)
    return response


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
    try:
        response = await wrapped(*args, **kwargs)
    except BaseException as exc:
        hop.failed(exc)
        raise
    hop.answered(response)
    return response


def patch(module: ModuleType) -> None:
    """Post-import hook for ``httpx``: patch where each method is defined, once."""
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
