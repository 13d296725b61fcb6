"""Capture: wraps the standard library's ``http.client.HTTPConnection`` (function process).

Covers ``urllib.request``, ``xmlrpc.client`` and any other user of http.client. A call opens
at ``putrequest`` (every request goes through it), learns its body size at ``endheaders``
(where connection errors surface: DNS, refused, TLS) and closes at ``getresponse``. The open
call rides on the connection object, which carries one request at a time. Under urllib3 or
an outer client each of the three wrappers costs one thread-local read.
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
    host = getattr(connection, "_tunnel_host", None) or connection.host
    port = (getattr(connection, "_tunnel_port", None) if host != connection.host else None)
    call.origin = (scheme, host, port or connection.port)


def _outcome(call: calls.Call, response: Any) -> None:
    call.status = response.status
    call.bytes_received = response.length
    if calls.options.headers:
        call.response_headers = calls.header_pairs(response.getheaders())


def _putrequest(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    if calls.sink is not None and calls.current() is None:
        call = calls.open_call("http.client", _describe, instance, args, kwargs, nest=False)
        _park(instance, call)
    return result


def _park(connection: Any, call: calls.Call | None) -> None:
    try:
        previous = connection.__dict__.pop(ATTRIBUTE, None)
        if previous is not None:
            calls.discard(previous)  # a request the caller abandoned before its response
        if call is not None:
            setattr(connection, ATTRIBUTE, call)
    except Exception:
        pass


def _take(connection: Any) -> calls.Call | None:
    try:
        taken: calls.Call | None = connection.__dict__.pop(ATTRIBUTE, None)
        return taken
    except Exception:
        return None


def _endheaders(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    call = instance.__dict__.get(ATTRIBUTE) if calls.sink is not None else None
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        body = args[0] if args else kwargs.get("message_body")
        call.bytes_sent = calls.body_size(body)
        if calls.options.bodies:
            call.request_body = calls.body_prefix(body)
    except Exception:
        pass
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        calls.close(_take(instance) or call, exc=exc)
        raise


def _getresponse(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
    call = _take(instance) if calls.sink is not None else None
    if call is None:
        return wrapped(*args, **kwargs)
    return calls.run(call, wrapped, args, kwargs, _outcome)


def patch(module: ModuleType) -> None:
    connection = module.HTTPConnection
    patching.wrap(connection, "putrequest", _putrequest)
    patching.wrap(connection, "endheaders", _endheaders)
    patching.wrap(connection, "getresponse", _getresponse)
