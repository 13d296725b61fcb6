"""Capture: wraps urllib3's pools (runs in the function process).

``PoolManager.urlopen`` and ``HTTPConnectionPool.urlopen`` open a call when nothing outer
(requests, botocore) has; ``HTTPConnectionPool._make_request`` runs once per request on the
wire, so its runs are the call's attempts: urllib3's own retries and redirects (``urlopen``
calls itself) and botocore's retries all land there. Works with urllib3 1.26 and 2.x.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from httprecap.internal import patching
from httprecap.internal.capture import call as calls

POOL_MODULE = "urllib3.connectionpool"
MANAGER_MODULE = "urllib3.poolmanager"


def _origin(pool: Any) -> calls.Origin:
    return pool.scheme, pool.host, pool.port or (443 if pool.scheme == "https" else 80)


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _describe_pool(call: calls.Call, pool: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
    call.method = _argument(args, kwargs, 0, "method") or ""
    call.target = _argument(args, kwargs, 1, "url") or ""
    if not call.target.startswith(("http://", "https://")):
        call.origin = _origin(pool)
    _describe_body(call, args, kwargs)


def _describe_manager(call: calls.Call, manager: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> None:
    call.method = _argument(args, kwargs, 0, "method") or ""
    call.target = _argument(args, kwargs, 1, "url") or ""
    _describe_body(call, args, kwargs)


def _describe_body(call: calls.Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    calls.note_request(call, _argument(args, kwargs, 2, "body"),
                       _argument(args, kwargs, 3, "headers"))


def _outcome(call: calls.Call, response: Any) -> None:
    calls.note_response(call, response.status, response, "_body")


def _opener(describe: calls.Describe) -> patching.Wrapper:
    def urlopen(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        call = calls.open_call("urllib3", describe, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        return calls.run(call, wrapped, args, kwargs, _outcome)

    return urlopen


def _make_request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    call = calls.current()
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        if len(args) > 2:  # how urllib3 calls it: (conn, method, url, ...)
            method, target = args[1] or "", args[2] or ""
        else:
            method = _argument(args, kwargs, 1, "method") or ""
            target = _argument(args, kwargs, 2, "url") or ""
        origin = None if target.startswith(("http://", "https://")) else _origin(instance)
    except Exception:
        return wrapped(*args, **kwargs)
    return calls.run_attempt(call, wrapped, args, kwargs, method=method, origin=origin,
                             target=target)


def patch_pool(module: ModuleType) -> None:
    pool = module.HTTPConnectionPool
    patching.wrap(pool, "urlopen", _opener(_describe_pool))
    patching.wrap(pool, "_make_request", _make_request)


def patch_manager(module: ModuleType) -> None:
    patching.wrap(module.PoolManager, "urlopen", _opener(_describe_manager))
