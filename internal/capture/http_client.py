"""Capture: wraps the standard library's ``http.client.HTTPConnection`` (function process).

Covers ``urllib.request`` and any other user of ``HTTPConnection.request``. A call opens in
``request`` (where connection errors surface: DNS, refused, TLS, and where the body size is
known) and closes in ``getresponse``; the open call rides on the connection object, which
carries one request at a time. ``getresponse`` is hooked on that one connection only, as an
instance attribute, until its response arrives: urllib3 overrides ``request`` but calls
http.client's ``getresponse``, so a class-level hook there would cost every urllib3, requests
and botocore call one more wrapper; this way they pay nothing here.
The low-level ``putrequest``/``endheaders`` API (``xmlrpc.client``) is not captured: hooking it
would cost every urllib3 call two more wrappers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MethodType, ModuleType
from typing import Any

from httprecap.internal import patching
from httprecap.internal.capture import call as calls

MODULE = "http.client"
ATTRIBUTE = "_httprecap_call"
HOOK = "getresponse"


def _describe(call: calls.Call, connection: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    call.method = args[0] if args else kwargs.get("method", "")
    call.target = args[1] if len(args) > 1 else kwargs.get("url", "")
    scheme = "https" if type(connection).default_port == 443 else "http"
    # Through a proxy tunnel the connection's host is the proxy; the call goes beyond it.
    tunnel_host = getattr(connection, "_tunnel_host", None)
    if tunnel_host:
        call.origin = (scheme, tunnel_host, getattr(connection, "_tunnel_port", None) or 443)
    else:
        call.origin = (scheme, connection.host, connection.port)
    calls.note_request(call, args[2] if len(args) > 2 else kwargs.get("body"),
                       args[3] if len(args) > 3 else kwargs.get("headers"))


def _outcome(call: calls.Call, response: Any) -> None:
    call.status = response.status
    call.bytes_received = response.length
    if calls.options.headers:
        call.response_headers = calls.header_pairs(response.getheaders())


def _request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
    call = calls.open_call("http.client", _describe, instance, args, kwargs, nest=False)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        calls.close(call, exc=exc)
        raise
    _park(instance, call)
    return result


def _park(connection: Any, call: calls.Call) -> None:
    try:
        state = connection.__dict__
        previous = state.get(ATTRIBUTE)
        if previous is not None:
            calls.discard(previous)  # a request the caller abandoned before its response
        state[ATTRIBUTE] = call
        # Shadows the class's method on this object only; removed when it runs.
        state[HOOK] = MethodType(_getresponse, connection)
    except Exception:
        calls.discard(call)


def _getresponse(connection: Any, *args: Any, **kwargs: Any) -> Any:
    """`connection.getresponse` while a captured request waits for its response."""
    state = connection.__dict__
    state.pop(HOOK, None)
    call = state.pop(ATTRIBUTE, None)
    getresponse = connection.getresponse  # the class's, now that ours is gone
    if call is None:
        return getresponse(*args, **kwargs)
    return calls.run(call, getresponse, args, kwargs, _outcome)


def patch(module: ModuleType) -> None:
    patching.wrap(module.HTTPConnection, "request", _request)
