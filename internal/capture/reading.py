"""Capture: calls whose client returned before their response's body was read (runs in the
function process).

http.client (and urllib.request over it), aiohttp, and requests with ``stream=True``, urllib3
with ``preload_content=False`` and httpx's ``stream`` return at the response's head; the user
reads the body later, and it may break midway. Such a call is finished at the head (its
duration ends there) but handed over only once its body is done (read to its end, broken,
closed: the client module follows it and calls `body_done`), or at the latest when its
invocation ends (`hand_over_all`, from bootstrap's hand-off, before the `end` marker), so it
is always in its invocation's recap. Meanwhile it stays among the calls in flight, where
the sender names it with a `start` notice, as any call still running.

Calls that get their body inside the client's own call (requests, urllib3 and httpx without
streaming, botocore) never come here.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

from httprecap.internal import diagnostics
from httprecap.internal.capture import call as calls

Settle = Callable[[calls.Call], None]

# On a response whose body is followed: (its call, its `Body`).
BODY = "_httprecap_body"

# call -> what settles it from its body (the bytes read, the error that broke it).
_reading: dict[calls.Call, Settle] = {}


class Body:
    """What a followed body came to, as its client module saw it; written into the call when
    it settles (inside `body_done`, so only the one who hands the call over writes it)."""

    __slots__ = ("error", "received", "whole")

    def __init__(self) -> None:
        self.error: tuple[str, str] | None = None
        self.received = 0
        self.whole = False  # read to its end

    def settle(self, call: calls.Call) -> None:
        """The bytes that came, if the body was read to its end or broke; else (closed early,
        never read) the call keeps the size its head declared, as every client's unread body
        does."""
        if self.error is not None:
            call.error = self.error
        if self.whole or self.error is not None:
            call.bytes_received = self.received


def following_class(cls: type, methods: dict[str, Any], made: dict[type, type]) -> type:
    """`cls` with `methods` in place of its own (reads that count, a close that ends the
    body), kept in `made`, one per class. It is set on the one response whose body is
    followed: no other response pays for it, and no hook in its __dict__ holds it in a cycle
    (a response dropped unread would keep its socket until the cyclic collector; this way it
    still closes at once). Named as `cls` is (its repr is unchanged); one base only, or the
    object's layout would differ (a managed __dict__). The class it stands for is its
    ``_httprecap_followed``."""
    following = made.get(cls)
    if following is None:
        following = made[cls] = type(cls.__name__, (cls,), {
            "__slots__": (), "__module__": cls.__module__, "__qualname__": cls.__qualname__,
            "_httprecap_followed": cls, **methods})
    return following


def follow(call: calls.Call, response: Any, body: Body, following: type) -> None:
    """Follow `response`'s body for `call`: `body` kept on it, its class `following` (see
    `following_class`) until the body is done, the call closed at the head meanwhile. May raise
    before the call is parked: the client module closes it then."""
    response.__dict__[BODY] = call, body
    response.__class__ = following
    close_later(call, body.settle)


def close_later(call: calls.Call, settle: Settle) -> None:
    """Finish `call` at its response's head, but hand it over only once its body is done
    (`body_done`) or its invocation ends (`hand_over_all`); never raises."""
    try:
        slot = call.slot
        if slot.call is call:  # (urllib.request's call): the slot goes back to the call around
            slot.call = getattr(call, "outer", None)
        call.duration_ms = (perf_counter() - call.t0) * 1000.0
        if calls.park(call):  # named by a `start` notice while its body comes
            _reading[call] = settle
    except Exception as exc:
        diagnostics.swallowed("capture.reading.close_later", exc)


def body_done(call: calls.Call) -> None:
    """`call`'s body ended (read to its end, broken, closed): settle it and hand it over,
    once (whoever comes first: the body's reader, or the invocation's end). Never raises."""
    settle = _reading.pop(call, None)  # atomic: exactly one caller gets it
    if settle is None:
        return
    try:
        settle(call)
    except Exception as exc:
        diagnostics.swallowed("capture.reading.body_done", exc)
    calls.hand_over(call)


def hand_over_all() -> None:
    """Hand over every call whose body is still being read (with the bytes read so far): its
    invocation ends, or the process exits. Never raises."""
    try:
        for call in tuple(_reading):
            body_done(call)
    except Exception as exc:
        diagnostics.swallowed("capture.reading.hand_over_all", exc)


def forget_all() -> None:
    """In a child after fork: the parent hands those calls over."""
    _reading.clear()
