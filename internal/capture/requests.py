"""Capture: wraps requests' ``Session.send`` (runs in the function process).

At the Session level, so calls that ``responses`` (or any adapter) serves are seen, and a
redirect chain (``resolve_redirects`` calls ``send`` again, nested) is one call whose hops
urllib3 lists as attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from httprecap.internal import patching
from httprecap.internal.capture import call as calls

MODULE = "requests.sessions"


def _describe(call: calls.Call, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    request = args[0] if args else kwargs["request"]
    call.method = request.method or ""
    call.target = request.url or ""
    calls.note_request(call, request.body, request.headers)


def _outcome(call: calls.Call, response: Any) -> None:
    calls.note_response(call, response.status_code, response, "_content")


def _send(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    call = calls.open_call("requests", _describe, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    return calls.run(call, wrapped, args, kwargs, _outcome)


def patch(module: ModuleType) -> None:
    patching.wrap(module.Session, "send", _send)
