"""Capture: the call an asyncio task has open, for async clients (runs in the function process,
on the event loop's thread).

Blocking clients park their open call in a thread-local (call.py), which is right because they
hold their thread for the whole call. Async clients (httpx's ``AsyncClient``, aiohttp) run many
calls interleaved on one thread, so their open call rides on a context variable instead: every
asyncio task runs in its own copy of the context, so 50 gathered calls each see their own. It
serves two purposes, like the thread-local: a per-hop hook finds the call to list its attempt
in, and an async client nested inside another (httpx over an aiohttp transport) finds the
outer call and steps aside, so nothing is counted twice.

The request id is deliberately *not* kept in the context. It is read from the process-global
invocation state when a call opens (invocation.py): awslambdaric runs one invocation at a time,
so tasks gathered in an invocation carry its id, and an event loop (or a background task) that
outlives an invocation attributes its later calls to the invocation then in progress, never to
the one it was created in, which a context variable captured at task creation would do.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from httprecap.internal import diagnostics
from httprecap.internal.capture import call as calls

Failed = Callable[[calls.Call, BaseException], None]

# (This module loads only with an async client, which loads `contextvars` anyway.)
_current: ContextVar[calls.Call | None] = ContextVar("httprecap_call", default=None)


def current() -> calls.Call | None:
    """The call open in this task, if any."""
    return _current.get()


class Client:
    """What an async client module tells the shared logic: its name and its describers."""

    __slots__ = ("describe", "failed", "follow", "library", "outcome")

    def __init__(self, library: str, describe: calls.Describe, outcome: calls.Outcome,
                 failed: Failed | None = None, follow: calls.Outcome | None = None) -> None:
        self.library = library
        self.describe = describe
        self.outcome = outcome
        self.failed = failed  # lists the hop an exception broke, when the client needs it
        # Closes the call with its response, now or once the body the user reads later is
        # done (capture/reading.py); without it the call closes with `outcome`, now.
        self.follow = follow


async def run(client: Client, wrapped: Callable[..., Any], instance: Any,
              args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Await the user's call inside a new call (unless one is open in this task already);
    the result and any exception reach the user unchanged."""
    call = None if _current.get() is not None else \
        calls.open_call(client.library, client.describe, instance, args, kwargs, nest=False)
    if call is None:
        return await wrapped(*args, **kwargs)
    token = _current.set(call)
    try:
        # Passed on, never bound here: a kept traceback through this frame would keep it.
        return _answered(client, call, token, await wrapped(*args, **kwargs))
    except BaseException as exc:
        _forget(token)
        _note_failure(client.failed, call, exc)
        calls.close(call, exc=exc)
        raise


def _answered(client: Client, call: calls.Call, token: Token[calls.Call | None],
              result: Any) -> Any:
    _forget(token)
    follow = client.follow
    if follow is None:
        calls.close(call, result=result, outcome=client.outcome)
    else:
        follow(call, result)
    return result


def _forget(token: Token[calls.Call | None]) -> None:
    try:
        _current.reset(token)
    except Exception:  # not logged: resumed in another context (a coroutine driven by hand)
        _current.set(None)  # so it is cleared here


def _note_failure(failed: Failed | None, call: calls.Call, exc: BaseException) -> None:
    if failed is None:
        return
    try:
        failed(call, exc)
    except Exception as failure:
        diagnostics.swallowed("capture.asynccall.note_failure", failure)
