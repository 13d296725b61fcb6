"""Capture: wraps the standard library's ``http.client.HTTPConnection`` (function process).

Covers ``urllib.request`` and any other user of ``HTTPConnection.request``. A call opens in
``request`` (where connection errors surface: DNS, refused, TLS, and where the body size is
known) and closes in ``getresponse``; the open call rides on the connection object, which
carries one request at a time. urllib3 overrides ``request``, so under urllib3 (and so under
requests and botocore) only ``getresponse`` runs through us, for the price of one dict lookup.
The low-level ``putrequest``/``endheaders`` API (``xmlrpc.client``) is not captured: hooking it
would cost every urllib3 call two more wrappers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from httprecap.internal import patching
from httprecap.internal.capture import call as calls

MODULE = "http.client"
ATTRIBUTE = "_httprecap_call"


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
        previous = connection.__dict__.get(ATTRIBUTE)
        if previous is not None:
            calls.discard(previous)  # a request the caller abandoned before its response
        setattr(connection, ATTRIBUTE, call)
    except Exception:
        calls.discard(call)


def _getresponse(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    call = instance.__dict__.pop(ATTRIBUTE, None)
    if call is None:
        return wrapped(*args, **kwargs)
    return calls.run(call, wrapped, args, kwargs, _outcome)


def patch(module: ModuleType) -> None:
    connection = module.HTTPConnection
    patching.wrap(connection, "request", _request)
    patching.wrap(connection, "getresponse", _getresponse)
