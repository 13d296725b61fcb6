"""Transport: a call's timeout, as its client was given it, resolved to seconds (function process,
sender thread).

Capture keeps a reference to what the client had (`Record.timeout`): a number, requests'
``(connect, read)`` tuple, urllib3's ``Timeout``, httpx's timeout dict, aiohttp's
``ClientTimeout``, ``http.client``'s global-default sentinel, or the pool or session whose
default applies. It is read here, by duck typing (no client is imported), into the recap's
``timeoutS``: the longest single wait the client allows, ``None`` when one of its waits is
unbounded (docs/RECAP.md).
"""

from __future__ import annotations

import sys
from typing import Any

from httprecap.internal.transport.record import NOT_KNOWN

# The waits of httpx's timeout (its dict and its ``Timeout`` object alike).
HTTPX_WAITS = ("connect", "read", "write", "pool")


class _Unknown(Exception):
    """A timeout whose form is not one this module knows."""


def seconds(raw: object) -> float | tuple[str] | None:
    """`raw` as ``timeoutS``: seconds, None (unbounded), or NOT_KNOWN. Never raises."""
    if raw is NOT_KNOWN:
        return NOT_KNOWN
    try:
        return _resolve(raw, 0)
    except Exception:  # not logged: a form we do not know is simply not known
        return NOT_KNOWN


def _resolve(raw: Any, depth: int) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return _number(raw)
    # http.client's default (socket is loaded by then: it is not at start-up)
    if raw is getattr(sys.modules.get("socket"), "_GLOBAL_DEFAULT_TIMEOUT", NOT_KNOWN):
        return _socket_default()
    if isinstance(raw, (tuple, list)) and len(raw) == 2:  # requests' (connect, read)
        return longest(_resolve(raw[0], depth), _resolve(raw[1], depth))
    if isinstance(raw, dict):  # httpx's request extension
        return longest(*(_resolve(raw.get(name), depth) for name in HTTPX_WAITS))
    return _resolve_object(raw, depth)


def _resolve_object(raw: Any, depth: int) -> float | None:
    """A client's timeout object, or the pool, session or client whose default applies."""
    if hasattr(raw, "_connect") and hasattr(raw, "_read"):  # urllib3's Timeout
        return _urllib3(raw)
    if hasattr(raw, "sock_read") and hasattr(raw, "total"):  # aiohttp's ClientTimeout
        return _aiohttp(raw)
    if all(hasattr(raw, name) for name in HTTPX_WAITS):  # httpx's Timeout
        return longest(*(_resolve(getattr(raw, name), depth) for name in HTTPX_WAITS))
    if depth < 2 and hasattr(raw, "timeout"):  # a urllib3 pool, an aiohttp session
        return _resolve(raw.timeout, depth + 1)
    raise _Unknown(type(raw).__name__)


def _urllib3(timeout: Any) -> float | None:
    """urllib3's ``Timeout``: connect and read, each its default (the socket's) when not set,
    each capped by ``total``."""
    default = type(timeout).DEFAULT_TIMEOUT  # (the sentinel differs between 1.26 and 2.x)
    total = _resolve(timeout.total, 0)
    waits = []
    for wait in (timeout._connect, timeout._read):
        value = _socket_default() if wait is default else _resolve(wait, 0)
        waits.append(capped(value, total))
    return longest(*waits)


def _aiohttp(timeout: Any) -> float | None:
    """aiohttp's ``ClientTimeout``: connecting (``connect``, ``sock_connect``: the shorter)
    and each read (``sock_read``), all capped by ``total``."""
    total = _resolve(timeout.total, 0)
    connect = _resolve(timeout.connect, 0)
    sock_connect = _resolve(timeout.sock_connect, 0)
    connecting = connect if sock_connect is None else capped(sock_connect, connect)
    return capped(longest(connecting, _resolve(timeout.sock_read, 0)), total)


def longest(*waits: float | None) -> float | None:
    """The longest of `waits`; None if one is unbounded."""
    if None in waits:
        return None
    return max(wait for wait in waits if wait is not None)


def capped(wait: float | None, cap: float | None) -> float | None:
    """`wait` bounded by `cap` (either may be unbounded)."""
    if cap is None:
        return wait
    return cap if wait is None else min(wait, cap)


def _number(value: float) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):  # (NaN too)
        raise _Unknown(repr(value))
    return number


def _socket_default() -> float | None:
    import socket  # (loaded by every client that reaches here)

    default = socket.getdefaulttimeout()
    return None if default is None else _number(default)
