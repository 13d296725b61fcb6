"""Capture: wraps urllib3's pools (runs in the function process).

``PoolManager.urlopen`` and ``HTTPConnectionPool.urlopen`` open a call when nothing outer
(requests, botocore) has; ``HTTPConnectionPool._make_request`` runs once per request on the
wire, so its runs are the call's attempts: urllib3's own retries and redirects (``urlopen``
calls itself) and botocore's retries all land there. Works with urllib3 1.26 and 2.x.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from types import ModuleType
from typing import Any

from httprecap.internal import patching
from httprecap.internal.capture import call as calls

POOL_MODULE = "urllib3.connectionpool"
MANAGER_MODULE = "urllib3.poolmanager"


ABSOLUTE = ("http://", "https://")


def _origin(pool: Any) -> calls.Origin:
    return pool.scheme, pool.host, pool.port or (443 if pool.scheme == "https" else 80)


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _describe_pool(call: calls.Call, pool: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
    _describe_manager(call, pool, args, kwargs)
    if not call.target.startswith(ABSOLUTE):
        call.origin = _origin(pool)


def _describe_manager(call: calls.Call, manager: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> None:
    if len(args) == 2:  # how urllib3's own `request` calls it: (method, url, **options)
        call.method, call.target = args[0] or "", args[1] or ""
        body, headers = kwargs.get("body"), kwargs.get("headers")
    else:
        call.method = _argument(args, kwargs, 0, "method") or ""
        call.target = _argument(args, kwargs, 1, "url") or ""
        body, headers = _argument(args, kwargs, 2, "body"), _argument(args, kwargs, 3, "headers")
    calls.note_request(call, body, headers)


def _outcome(call: calls.Call, response: Any) -> None:
    calls.note_response(call, response.status, response, "_body")


def _opener(describe: calls.Describe) -> patching.Wrapper:
    def urlopen(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        if calls.local.slot.call is not None:  # inside requests' or botocore's call: theirs
            return wrapped(*args, **kwargs)
        call = calls.open_call("urllib3", describe, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        return calls.run(call, wrapped, args, kwargs, _outcome)

    return urlopen


def _make_request(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    """One request on the wire: an attempt of the call open on this thread, if any."""
    call = calls.local.slot.call
    if call is None:
        return wrapped(*args, **kwargs)
    where = _where(call, instance, args, kwargs)
    if where is None:
        return wrapped(*args, **kwargs)
    t0 = perf_counter()
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        _list_attempt(call, where, t0, None, exc)
        raise
    _list_attempt(call, where, t0, response, None)
    return response


Where = tuple[str, "calls.Origin | None", str]


def _where(call: calls.Call, pool: Any, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> Where | None:
    """Method, origin and target of a `_make_request(conn, method, url, ...)`; None if odd.
    A call that has no location yet (botocore's) takes its first attempt's, before it can
    hang."""
    try:
        if len(args) > 2:
            method, target = args[1] or "", args[2] or ""
        else:
            method = _argument(args, kwargs, 1, "method") or ""
            target = _argument(args, kwargs, 2, "url") or ""
        where = method, None if target.startswith(ABSOLUTE) else _origin(pool), target
        if not call.target:
            call.method, call.origin, call.target = where
        return where
    except Exception:
        return None


def _list_attempt(call: calls.Call, where: Where, t0: float, response: Any,
                  exc: BaseException | None) -> None:
    """Add the attempt that started at `t0` to `call` (never raises)."""
    try:
        duration_ms = (perf_counter() - t0) * 1000.0
        if exc is None:
            status, error, size = response.status, None, calls.size_or_headers(response, "_body")
        else:
            status, error, size = None, calls.describe_error(exc), None
        calls._add_attempt(call, (call.started_us + int((t0 - call.t0) * 1e6), duration_ms,
                                  status, error, where[1], where[2], size))
    except Exception:
        return


def patch_pool(module: ModuleType) -> None:
    pool = module.HTTPConnectionPool
    patching.wrap(pool, "urlopen", _opener(_describe_pool))
    patching.wrap(pool, "_make_request", _make_request)


def patch_manager(module: ModuleType) -> None:
    patching.wrap(module.PoolManager, "urlopen", _opener(_describe_manager))
