"""Transport: a call's timeout, as its client was given it, resolved to seconds (function process,
sender thread).

Capture keeps a reference to what the client had (`Record.timeout`): a number, requests'
``(connect, read)`` tuple, urllib3's ``Timeout``, httpx's timeout dict, aiohttp's
``ClientTimeout``, ``http.client``'s global-default sentinel, or the pool or session whose
default applies. It is read here, by duck typing (no client is imported), into the recap's
``timeoutS``: the longest single wait the client allows, ``None`` when one of its waits is
unbounded (docs/RECAP.md).

The form of a class is worked out once (`_reader_for`) and kept by class; what a given timeout
resolves to is kept by the encoder (`keepable`), so most calls cost one lookup.
"""

from __future__ import annotations

import sys

from httprecap.internal.transport.record import NOT_KNOWN

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Reader = Callable[[Any, int], "float | None"]

# The waits of httpx's timeout (its dict and its ``Timeout`` object alike).
HTTPX_WAITS = ("connect", "read", "write", "pool")
MAX_CLASSES = 64  # classes whose form is kept; beyond, a class is worked out on each call


class _Unknown(Exception):
    """A timeout whose form is not one this module knows."""


def seconds(given: object) -> float | tuple[str] | None:
    """`given` as ``timeoutS``: seconds, None (unbounded), or NOT_KNOWN. Never raises."""
    if given is NOT_KNOWN:
        return NOT_KNOWN
    try:
        return _resolve(given, 0)
    except Exception:  # not logged: a form we do not know is simply not known
        return NOT_KNOWN


def keepable(raw: object) -> bool:
    """Whether what `raw` resolves to may be kept by `raw` itself (transport/encode.py): not
    for a pool, session or client, whose timeout may be replaced and which must not be kept
    alive, nor for a bool (equal to 1 or 0, which resolve otherwise); for a timeout, a number
    or a tuple, yes."""
    if isinstance(raw, (tuple, list)):
        return not any(isinstance(item, bool) for item in raw)
    return not isinstance(raw, bool) and _reader_of(raw) is not _holder


def _resolve(raw: Any, depth: int) -> float | None:
    if raw is None:
        return None
    cls = raw.__class__
    if cls is float or cls is int:
        return _number(raw)
    return _reader_of(raw)(raw, depth)


def _reader_of(raw: Any) -> Reader:
    """The reader of `raw`'s class: kept, or worked out now."""
    cls = raw.__class__
    reader = _readers.get(cls)
    if reader is None:
        reader = _reader_for(raw)
        if len(_readers) < MAX_CLASSES:
            _readers[cls] = reader
    return reader


def _reader_for(raw: Any) -> Reader:
    """How to read a timeout of `raw`'s class (by what its instances have: no client is
    imported here)."""
    if isinstance(raw, bool):
        return _unknown
    if isinstance(raw, (int, float)):
        return _subclassed_number
    if isinstance(raw, (tuple, list)):  # requests' (connect, read)
        return _pair
    if isinstance(raw, dict):  # httpx's request extension
        return _httpx_dict
    if hasattr(raw, "_connect") and hasattr(raw, "_read"):
        return _urllib3
    if hasattr(raw, "sock_read") and hasattr(raw, "total"):
        return _aiohttp
    if all(hasattr(raw, name) for name in HTTPX_WAITS):
        return _httpx
    if hasattr(raw, "timeout"):  # a urllib3 pool, an aiohttp session, an httpx client
        return _holder
    return _sentinel_or_unknown  # (http.client's default is a plain `object()`)


def _unknown(raw: Any, depth: int) -> float | None:
    raise _Unknown(type(raw).__name__)


def _subclassed_number(raw: Any, depth: int) -> float | None:
    return _number(raw)


def _pair(raw: Any, depth: int) -> float | None:
    if len(raw) != 2:
        raise _Unknown("not a (connect, read) pair")
    return longest(_resolve(raw[0], depth), _resolve(raw[1], depth))


def _httpx_dict(raw: Any, depth: int) -> float | None:
    return longest(*(_resolve(raw.get(name), depth) for name in HTTPX_WAITS))


def _httpx(raw: Any, depth: int) -> float | None:
    """httpx's ``Timeout``."""
    return longest(*(_resolve(getattr(raw, name), depth) for name in HTTPX_WAITS))


def _holder(raw: Any, depth: int) -> float | None:
    """A pool, session or client whose own default timeout applies."""
    if depth >= 2:
        raise _Unknown("a timeout held too deep")
    return _resolve(raw.timeout, depth + 1)


def _sentinel_or_unknown(raw: Any, depth: int) -> float | None:
    """http.client's default (socket is loaded by then: it is not at start-up)."""
    if raw is getattr(sys.modules.get("socket"), "_GLOBAL_DEFAULT_TIMEOUT", NOT_KNOWN):
        return _socket_default()
    raise _Unknown(type(raw).__name__)


def _urllib3(timeout: Any, depth: int) -> float | None:
    """urllib3's ``Timeout``: connect and read, each its default (the socket's) when not set,
    each capped by ``total``."""
    default = type(timeout).DEFAULT_TIMEOUT  # (the sentinel differs between 1.26 and 2.x)
    total = _resolve(timeout.total, 0)
    connect, read = timeout._connect, timeout._read
    connect = _socket_default() if connect is default else _resolve(connect, 0)
    read = _socket_default() if read is default else _resolve(read, 0)
    return longest(capped(connect, total), capped(read, total))


def _aiohttp(timeout: Any, depth: int) -> float | None:
    """aiohttp's ``ClientTimeout``: connecting (``connect``, ``sock_connect``: the shorter)
    and each read (``sock_read``), all capped by ``total``."""
    total = _resolve(timeout.total, 0)
    connect = _resolve(timeout.connect, 0)
    sock_connect = _resolve(timeout.sock_connect, 0)
    connecting = connect if sock_connect is None else capped(sock_connect, connect)
    return capped(longest(connecting, _resolve(timeout.sock_read, 0)), total)


_readers: dict[type, Reader] = {}


def longest(*waits: float | None) -> float | None:
    """The longest of `waits`; None if one is unbounded."""
    if None in waits:
        return None
    return max(waits)  # type: ignore[type-var]  # (None is not among them)


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
