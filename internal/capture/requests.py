"""Capture: wraps requests' ``Session.send`` and its response hooks (runs in the function process).

At the Session level, so a redirect chain (``resolve_redirects`` calls ``send`` again, nested)
is one call whose hops urllib3 lists as attempts.

- A call answered without reaching the wire (``responses``, ``requests-mock``, an adapter of
  the user's that answers itself) is not an HTTP call: it leaves no record. It reached the
  wire if a urllib3 pool ran inside it, or if its response came off an ``http.client``
  connection all the same (requests before 2.32 sends a chunked body through a pooled
  connection's http.client methods, with no ``urlopen``). One that failed before the wire (no
  adapter for the URL, a proxy or adapter error) keeps its record, with the error.
- Sizes are the wire's: a gzip body's compressed bytes (capture/urllib3.py `note_response`); a
  streamed upload counted as it is sent (capture/sending.py: the adapter is handed a counting
  proxy, the user's body is put back when the call returns); with ``stream=True``, the body
  the user reads later is followed (capture/urllib3_body.py).
- The response hooks run inside the outer ``send``: a call a hook makes (requests again,
  urllib3's PoolManager, boto3) is a call of its own, not an attempt of the outer one; the
  resend of ``HTTPDigestAuth``, made through the adapter, stays an attempt. ``dispatch_hook``
  is wrapped only once a call with response hooks is seen: wrapping it costs every call twice
  what its usual hook list (empty) costs to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from http.client import HTTPResponse
from types import ModuleType
from typing import Any

from httprecap.internal import diagnostics, patching
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import urllib3

MODULE = "requests.sessions"


class _Sessions:
    """requests.sessions, whose ``dispatch_hook`` is wrapped once a call has hooks."""

    module: ModuleType | None = None
    hooked = False


def _describe(call: calls.Call, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    request = args[0] if args else kwargs["request"]
    call.method = request.method or ""
    call.target = request.url or ""
    # The user's timeout, as the adapter gets it (None: unbounded). Not the urllib3 Timeout the
    # adapter makes of it, a new object each call that would live until the call is sent.
    call.timeout = kwargs.get("timeout")
    body = request.body
    if body is None and not calls.options.copies:  # (a GET's: most calls)
        call.bytes_sent = 0
    else:
        calls.note_request(call, body, request.headers)
    if request.hooks.get("response") and not _Sessions.hooked:
        _hook(_Sessions.module)


def _hook(module: ModuleType | None) -> None:
    """Wrap the ``dispatch_hook`` that ``Session.send`` calls (a module global, looked up when
    it runs: this call's hooks are seen already)."""
    _Sessions.hooked = True
    if module is not None:
        patching.wrap(module, "dispatch_hook", _dispatch_hook)


def _outcome(call: calls.Call, response: Any) -> bool | str | None:
    raw = response.raw  # (a requests Response: `Session.send` reads both attributes itself)
    if call.runs is None and not _from_wire(raw):
        return False  # a mock's answer, or a non-wire adapter's
    if urllib3.note_response(call, response.status_code, response, response._content, raw):
        return None
    return urllib3.follow_body(call, raw)  # stream=True: the body comes later


def _from_wire(raw: Any) -> bool:
    """Whether a response that no urllib3 pool run produced came off a connection all the
    same: requests before 2.32 sends a chunked body through a pooled connection's http.client
    methods (no ``urlopen``), and an adapter of the user's may use http.client directly.
    ``responses`` and ``requests-mock`` build theirs from no ``http.client`` response."""
    original = getattr(raw, "_original_response", None)
    return isinstance(raw, HTTPResponse) or isinstance(original, HTTPResponse)


def _send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    call = calls.open_call("requests", _describe, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    if call.bytes_sent is None:  # a streamed body: counted as it is sent
        return _send_counted(call, wrapped, args, kwargs)
    return calls.run(call, wrapped, args, kwargs, _outcome)


def _send_counted(call: calls.Call, wrapped: Callable[..., Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    """The call, its request's body handed to the adapter as a counting proxy
    (capture/sending.py), and the user's own body put back on the request when it returns."""
    from httprecap.internal.capture import sending

    request = args[0] if args else kwargs["request"]
    body = request.body
    proxy = sending.counted(call, body)
    if proxy is body:
        return calls.run(call, wrapped, args, kwargs, _outcome)
    request.body = proxy
    try:
        # Passed on, never bound here: a kept traceback through this frame would keep it.
        return _given_back(calls.run(call, wrapped, args, kwargs, _outcome), proxy, body)
    finally:
        request.body = body


def _given_back(response: Any, proxy: Any, body: Any) -> Any:
    """`response`, whose requests (a 307 or 308 redirect's copies too) hold the user's `body`
    again where they held its `proxy`."""
    try:
        for answer in (*response.history, response):
            if answer.request.body is proxy:
                answer.request.body = body
    except Exception as exc:
        diagnostics.swallowed("capture.requests.given_back", exc)
    return response


def _dispatch_hook(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    """``dispatch_hook(key, hooks, hook_data, **kwargs)``, as ``Session.send`` calls it: user
    hooks run with the open call marked `in_hooks` (see capture/call.py). Without hooks (the
    default: an empty list) it costs one lookup."""
    try:
        hooked = bool(args[1].get(args[0]))
    except Exception:  # not logged: called some other way, or with no hooks at all (None)
        hooked = False
    call = calls.local.slot.call if hooked else None
    if call is None:
        return wrapped(*args, **kwargs)
    before = call.in_hooks
    call.in_hooks = True
    try:
        return wrapped(*args, **kwargs)
    finally:
        call.in_hooks = before


def patch(module: ModuleType) -> None:
    patching.wrap(module.Session, "send", _send)
    _Sessions.module, _Sessions.hooked = module, False
