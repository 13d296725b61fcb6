"""Capture: the new connections a call opens, and their connect and TLS times (runs in the
function process, only when a client opens a connection).

A call that reuses a pooled connection runs nothing here: only the methods that open one are
hooked (urllib3's ``HTTPConnection.connect``, ``HTTPSConnection.connect`` and ``_new_conn``;
``http.client``'s ``connect``; httpcore's ``_connect`` and its backends' ``connect_tcp``, for
httpx; aiohttp's ``TCPConnector._create_connection``). Each marks the call open on its thread
(or, for the async clients, in its task; for ``http.client``, on the connection) as having
opened one (`Record.opened`), with the time it took. On the sender, a call that got an answer
without opening one reused a connection (transport/encode.py).

Hooks nest: the outermost one running is the whole connection; one running inside it (urllib3's
``_new_conn`` inside ``connect``, ``http.client``'s ``HTTPConnection.connect`` inside the
HTTPS one, httpcore's ``connect_tcp`` inside ``_connect``) is its TCP part. What the whole took
beyond its TCP part is its TLS handshake (through a proxy, its tunnel too) for an HTTPS
connection. Where no TCP part is seen (aiohttp: asyncio connects and shakes hands in one step),
the whole is ``connectMs``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from time import perf_counter
from types import ModuleType
from typing import Any

from httprecap.internal import diagnostics, hooks, patching
from httprecap.internal.capture import call as calls

URLLIB3_MODULE = "urllib3.connection"
HTTPCORE_SYNC_MODULE = "httpcore._sync.connection"
HTTPCORE_ASYNC_MODULE = "httpcore._async.connection"
HTTPCORE_SYNC_BACKEND = "httpcore._backends.sync"
HTTPCORE_ANYIO_BACKEND = "httpcore._backends.anyio"  # (imported when first used)
AIOHTTP_MODULE = "aiohttp.connector"
HTTP_CLIENT_MODULE = "http.client"
HTTP_CLIENT_CALL = "_httprecap_call"  # capture/http_client.py's parked (call, outer)

Wrapped = Callable[..., Any]


def _begin(call: calls.Call) -> float | None:
    """A connection begins opening in `call`: its start, or None for its TCP part."""
    if call.connecting:
        return None
    call.connecting = True
    call.opened += 1
    return perf_counter()


def _end(call: calls.Call, t0: float | None, t1: float, before_ms: float, secure: bool) -> None:
    """The connection begun at `t0` (None: the TCP part begun at `t1`) ended now."""
    try:
        now = perf_counter()
        if t0 is None:  # the TCP part of the connection being opened
            call.connect_ms += (now - t1) * 1000.0
            return
        call.connecting = False
        tcp_ms = call.connect_ms - before_ms
        rest_ms = (now - t0) * 1000.0 - tcp_ms
        if secure and tcp_ms > 0.0:
            call.tls_ms = (call.tls_ms or 0.0) + max(rest_ms, 0.0)
        else:
            call.connect_ms += max(rest_ms, 0.0)
    except Exception as exc:
        diagnostics.swallowed("capture.connections.end", exc)


def _timed(call: calls.Call, wrapped: Wrapped, args: tuple[Any, ...],
           kwargs: dict[str, Any], secure: bool) -> Any:
    t0, t1, before = _begin(call), perf_counter(), call.connect_ms
    try:
        return wrapped(*args, **kwargs)
    finally:
        _end(call, t0, t1, before, secure)


async def _timed_async(call: calls.Call, wrapped: Wrapped, args: tuple[Any, ...],
                       kwargs: dict[str, Any], secure: bool) -> Any:
    t0, t1, before = _begin(call), perf_counter(), call.connect_ms
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _end(call, t0, t1, before, secure)


def _on_thread(secure: bool | None) -> patching.Wrapper:
    """A hook for a blocking client: the call is the one open on this thread; `secure` None
    for a connection that says itself whether it is (httpcore's: `_secure`)."""
    def hook(wrapped: Wrapped, instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        call = calls.local.slot.call
        if call is None:
            return wrapped(*args, **kwargs)
        return _timed(call, wrapped, args, kwargs,
                      _secure(instance) if secure is None else secure)

    return hook


def _in_task(wrapped: Wrapped, instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
    """A hook for an async client: the call is the one open in this task."""
    from httprecap.internal.capture import asynccall  # (loaded with an async client)

    call = asynccall.current()
    if call is None:
        return wrapped(*args, **kwargs)
    return _timed_async(call, wrapped, args, kwargs, _secure(instance))


def _secure(instance: Any) -> bool:
    """Whether an httpcore connection is to an HTTPS origin (aiohttp's connector: never
    split, see the module docstring)."""
    origin = getattr(instance, "_origin", None)
    return getattr(origin, "scheme", None) in (b"https", b"wss")


def _on_connection(secure: bool) -> patching.Wrapper:
    """A hook for ``http.client``: the call is the one parked on the connection (a hop's:
    its outer call, urllib.request's)."""
    def hook(wrapped: Wrapped, instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        parked = getattr(instance, "__dict__", {}).get(HTTP_CLIENT_CALL)
        if parked is None:
            return wrapped(*args, **kwargs)
        call, outer = parked
        return _timed(outer if outer is not None else call, wrapped, args, kwargs, secure)

    return hook


def patch(target: Callable[[], None]) -> None:
    """Apply `target` (one of the patches below); a failure leaves connections unseen, the
    client's capture in place."""
    try:
        target()
    except Exception as exc:
        diagnostics.swallowed("capture.connections.patch", exc)


def patch_urllib3() -> None:
    """urllib3.connection (loaded with urllib3's pools)."""
    module = sys.modules.get(URLLIB3_MODULE)
    if module is None:
        return
    patching.wrap(module.HTTPConnection, "connect", _on_thread(False))
    patching.wrap(module.HTTPConnection, "_new_conn", _on_thread(False))
    patching.wrap(module.HTTPSConnection, "connect", _on_thread(True))


def patch_http_client() -> None:
    module = sys.modules[HTTP_CLIENT_MODULE]
    patching.wrap(module.HTTPConnection, "connect", _on_connection(False))
    patching.wrap(module.HTTPSConnection, "connect", _on_connection(True))


def patch_httpcore() -> None:
    """httpcore's connections and backends, once each is imported (httpx imports httpcore
    when its first transport is built; the anyio backend, when first used)."""
    for name, patch_module in ((HTTPCORE_SYNC_MODULE, _patch_httpcore_sync),
                               (HTTPCORE_ASYNC_MODULE, _patch_httpcore_async),
                               (HTTPCORE_SYNC_BACKEND, _patch_sync_backend),
                               (HTTPCORE_ANYIO_BACKEND, _patch_anyio_backend)):
        hooks.when_imported(name, patch_module)


def _patch_httpcore_sync(module: ModuleType) -> None:
    patching.wrap(module.HTTPConnection, "_connect", _on_thread(None))


def _patch_httpcore_async(module: ModuleType) -> None:
    patching.wrap(module.AsyncHTTPConnection, "_connect", _in_task)


def _patch_sync_backend(module: ModuleType) -> None:
    patching.wrap(module.SyncBackend, "connect_tcp", _on_thread(False))


def _patch_anyio_backend(module: ModuleType) -> None:
    patching.wrap(module.AnyIOBackend, "connect_tcp", _in_task)


def patch_aiohttp() -> None:
    connector = sys.modules.get(AIOHTTP_MODULE)
    if connector is not None:
        patching.wrap(connector.TCPConnector, "_create_connection", _in_task)
