"""Capture: wraps ``urllib.request.OpenerDirector.open`` (runs in the function process).

``urlopen`` (and any opener's ``open``) follows redirects itself: its redirect handler opens
the next URL through the same ``open``, each hop one ``http.client`` request. The outermost
``open`` of an http(s) URL opens the call and parks it in its thread's slot; the requests
http.client sends inside it are its attempts (capture/http_client.py `_send_hop`), the first
of which describes it (method, where, size, proxy). So a followed redirect is one call, as
with every other client: its method and URL are the first request's, its status and size the
last response's. The response ``open`` returns has its body followed as http.client's does.

A URL that never reached http.client (``file:``, ``data:``, a handler of the user's that
answers itself) leaves no call. An ``HTTPError`` (a 4xx or 5xx answer ``urlopen`` raises) is
the call's error, beside the status of the response it carries. The library stays
``http.client``: what the recap named these calls before, and what sends them.
This module is imported at the first call through ``OpenerDirector.open`` (see
``bootstrap.ON_FIRST_CALL``), whose calls `on_open` then takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from httprecap.internal import diagnostics
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import http_client

MODULE = "urllib.request"
SCHEMES = ("http:", "https")


def _url_of(fullurl: Any) -> str:
    """The URL `open` was given (a string or a ``Request``)."""
    return fullurl if isinstance(fullurl, str) else getattr(fullurl, "full_url", "")


def _is_http(fullurl: Any) -> bool:
    try:
        return _url_of(fullurl)[:5].lower() in SCHEMES
    except Exception as exc:
        diagnostics.swallowed("capture.urllib_request.is_http", exc)
        return False


def _describe(call: calls.Call, opener: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    """Until its first request is sent (which describes it), a call is what `open` was
    given: what a `start` notice names, and a call that fails before the wire keeps."""
    fullurl = args[0] if args else kwargs.get("fullurl")
    data = args[1] if len(args) > 1 else kwargs.get("data")
    call.target = _url_of(fullurl)
    get_method = getattr(fullurl, "get_method", None)
    if get_method is not None:
        call.method = get_method() if data is None else "POST"
    else:
        call.method = "GET" if data is None else "POST"


def on_open(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    fullurl = args[0] if args else kwargs.get("fullurl")
    if not calls.capturing() or not _is_http(fullurl):
        return wrapped(*args, **kwargs)
    outer = calls.local.slot.call
    if outer is not None and outer.library == http_client.LIBRARY:
        return wrapped(*args, **kwargs)  # a redirect the opener follows: the same call
    call = calls.open_call(http_client.LIBRARY, _describe, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        # Passed on, never bound here: a kept traceback through this frame would keep it.
        return _opened(call, wrapped(*args, **kwargs))
    except BaseException as exc:
        _failed(call, exc)
        raise


def _opened(call: calls.Call, response: Any) -> Any:
    """`open` returned `response`: the call ends with its head (its body followed)."""
    if not call.attempts or _excluded(call):
        calls.discard(call)  # nothing went through http.client: not an HTTP call of ours
    else:
        http_client.follow(call, response)
    return response


def _failed(call: calls.Call, exc: BaseException) -> None:
    if _excluded(call):
        calls.discard(call)
    else:
        calls.close(call, exc=exc)


def _excluded(call: calls.Call) -> bool:
    """The collector's or the Runtime API's address (known once the first request went)."""
    origin = call.origin
    return origin is not None and origin[1:] in calls.options.excluded

