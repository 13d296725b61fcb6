"""Capture: wraps urllib3's pools (runs in the function process).

``PoolManager.urlopen`` and ``HTTPConnectionPool.urlopen`` open a call when nothing outer
(requests, botocore, httpx) has. Each run of a pool's ``urlopen`` inside a call puts one
request on the wire: it is an attempt of the call.

- Runs one after another (requests' redirect hops, botocore's retries, a PoolManager's
  redirects) each list their attempt when they end, with the response's status or the
  exception (for ``MaxRetryError``, the wire error it wraps).
- urllib3's own retries and redirects run ``urlopen`` again from inside the run before: the
  inner run starting ends the outer one's attempt, whose outcome urllib3 wrote into the
  ``Retry`` it passes on (``retries.history[-1]``). An attempt thus lasts until the next one
  begins, back-off included.
- A call the pool opened itself is its own first attempt: listed only if another one follows,
  so a call made with one request pays nothing for attempts. Inside a call its client
  described (requests, a PoolManager) the first run keeps raw references only (`_run_first`)
  and is read into an attempt only when a second run begins. What a call knows of its runs
  is one `PoolRuns` (capture/runs.py).

A body read inside the call counts its bytes as they came (a gzip one's compressed bytes);
one left unread (``preload_content=False``) is followed as the user reads it
(capture/urllib3_body.py); a streamed request body is counted as it is sent
(capture/sending.py).

Besides the two ``urlopen`` methods only ``HTTPResponse._handle_chunk`` is hooked, which runs
for a chunked body only (urllib3 reads its chunks itself, around the count ``tell`` keeps): a
pool used directly costs one wrapper per call, and a call through requests, botocore or a
PoolManager two. Works with urllib3 1.26 and 2.x.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from time import perf_counter
from types import ModuleType
from typing import Any

from httprecap.internal import diagnostics, patching
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import connections
from httprecap.internal.capture.runs import (
    CHUNKS,
    KeptRun,
    PoolRuns,
    Run,
    RunEnd,
    wire_read,
)
from httprecap.internal.transport.record import NOT_KNOWN, Attempt, Origin, Record

POOL_MODULE = "urllib3.connectionpool"
MANAGER_MODULE = "urllib3.poolmanager"
RESPONSE_MODULE = "urllib3.response"
ABSOLUTE = ("http://", "https://")
# urlopen's parameters up to the last one read here, in order, and the positions of some.
URLOPEN_PARAMETERS = ("method", "url", "body", "headers", "retries", "redirect",
                      "assert_same_host", "timeout")
_POSITION = {name: index for index, name in enumerate(URLOPEN_PARAMETERS)}
BODY, RETRIES, TIMEOUT = _POSITION["body"], _POSITION["retries"], _POSITION["timeout"]


def _origin(pool: Any) -> Origin:
    return pool.scheme, pool.host, pool.port or (443 if pool.scheme == "https" else 80)


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    """urlopen's argument `name`, given by position or by keyword."""
    index = _POSITION[name]
    return args[index] if len(args) > index else kwargs.get(name)


def _describe_pool(call: calls.Call, pool: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
    # HTTPConnectionPool.urlopen(method, url, body=None, headers=None, retries=None, ...)
    if len(args) == 2:  # how urllib3's own `request` calls it: (method, url, **options)
        call.method, call.target = args[0] or "", args[1] or ""
        body = kwargs.get("body")
        if body is None and not calls.options.copies:  # (a GET's: most calls)
            call.bytes_sent = 0
        else:
            calls.note_request(call, body, kwargs.get("headers"))
        # The timeout it runs with: urlopen's, else the pool's (transport/timeouts.py).
        call.timeout = kwargs.get("timeout", pool.timeout)
    else:
        _describe_target(call, args, kwargs)
        calls.note_request(call, _argument(args, kwargs, "body"),
                           _argument(args, kwargs, "headers"))
        call.timeout = args[TIMEOUT] if len(args) > TIMEOUT else \
            kwargs.get("timeout", getattr(pool, "timeout", NOT_KNOWN))
    if not call.target.startswith(ABSOLUTE):
        call.origin = _origin(pool)


def _describe_manager(call: calls.Call, manager: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> None:
    # PoolManager.urlopen(method, url, redirect=True, **kw): body and headers are keywords.
    _describe_target(call, args, kwargs)
    calls.note_request(call, kwargs.get("body"), kwargs.get("headers"))


def _describe_target(call: calls.Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Method and URL: the first two parameters of both urlopen methods."""
    if len(args) >= 2:
        call.method, call.target = args[0] or "", args[1] or ""
    else:
        call.method = _argument(args, kwargs, "method") or ""
        call.target = _argument(args, kwargs, "url") or ""


def _outcome(call: calls.Call, response: Any) -> bool | str | None:
    if note_response(call, response.status, response, getattr(response, "_body", None),
                     response):
        return None
    return follow_body(call, response)  # preload_content=False: the body comes later


def follow_body(call: calls.Call, raw: Any) -> str | None:
    """capture/urllib3_body.py `follow`: loaded with the first body read after its call."""
    from httprecap.internal.capture import urllib3_body

    return urllib3_body.follow(call, raw)


def note_response(call: calls.Call, status: int, response: Any, body: Any, raw: Any) -> bool:
    """Status, size, and headers/body when opted in, of `response` (urllib3's, or requests'
    with `raw` its urllib3 response), whose body `body` is bytes if it was read inside the
    call; False if the body is still to come. The size is the body's as it came: a decoded
    (gzip) body's length is not, the bytes urllib3 read from the wire are."""
    call.status = status
    if calls.options.copies:
        calls.copy_response(call, response.headers, body)
    if body.__class__ is not bytes:
        call.bytes_received = calls.received_length(call.method, status,
                                                    response.headers.get("content-length"))
        return False
    try:
        decoder = raw._decoder
    except AttributeError:  # an http.client response (requests before 2.32, chunked)
        decoder = None
    call.bytes_received = len(body) if decoder is None else decoded_size(raw)
    return True


def decoded_size(raw: Any) -> int | None:
    """The wire size of a body urllib3 read and decoded (gzip, deflate...): the bytes it read,
    ``tell`` and the chunks it read around it (capture/runs.py `wire_read`)."""
    try:
        return wire_read(raw)
    except Exception as exc:
        diagnostics.swallowed("capture.urllib3.decoded_size", exc)
        return None


def _handle_chunk(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    """``HTTPResponse._handle_chunk``: each chunk of a chunked body counted on its response
    (only chunked bodies pay for it: one wrapper per chunk)."""
    chunk = wrapped(*args, **kwargs)
    try:
        state = instance.__dict__
        state[CHUNKS] = state.get(CHUNKS, 0) + len(chunk)
    except Exception as exc:
        diagnostics.swallowed("capture.urllib3.handle_chunk", exc)
    return chunk


def _pool_urlopen(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    call = calls.local.slot.call
    if call is not None:
        if call.runs is None:
            return _run_first(call, wrapped, instance, args, kwargs)
        return _run_later(call, wrapped, instance, args, kwargs)
    call = calls.open_call("urllib3", _describe_pool, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    call.runs = PoolRuns()  # this run is the call's first attempt, located as the call is
    if call.bytes_sent is None:  # a streamed body: counted as it is sent
        from httprecap.internal.capture import sending

        args, kwargs = sending.counted_arguments(call, args, kwargs, BODY)
    return calls.run(call, wrapped, args, kwargs, _outcome)


def _manager_urlopen(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
    call = calls.open_call("urllib3", _describe_manager, instance, args, kwargs)
    if call is None:  # a redirect the manager follows, or requests' call: not a new call
        return wrapped(*args, **kwargs)
    if call.bytes_sent is None:  # a streamed body: counted as it is sent
        from httprecap.internal.capture import sending

        args, kwargs = sending.counted_arguments(call, args, kwargs, None)  # (a keyword)
    return calls.run(call, wrapped, args, kwargs, _outcome)


# The runs inside a call (capture/runs.py holds their state): the first one, kept; a later
# one begins (`_begin`: listing the run before it, if it ended, or ending it, if urllib3
# retries from inside it) and ends (`_end`: listing itself, unless a run began inside it).

def _run_first(call: calls.Call, wrapped: Callable[..., Any], pool: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The first run inside an outer client's call: references kept, nothing computed (see
    capture/runs.py). A call its client did not locate (botocore's) is located from it later,
    when it closes (`_settle`)."""
    call.runs = runs = PoolRuns()
    if not call.target:  # botocore's call, located later (`_settle`)
        runs.settle = _settle
        body = kwargs.get("body")
        if body is not None and body.__class__ is not bytes:  # (aws-chunked, a file)
            from httprecap.internal.capture import sending

            kwargs["body"] = sending.counted(call, body)
    runs.first = perf_counter(), pool, args, kwargs
    if call.timeout is NOT_KNOWN:  # (a requests call has the user's: capture/requests.py)
        # urlopen's, else the pool's (its Timeout: not the pool, which the sender must not keep)
        call.timeout = kwargs.get("timeout", getattr(pool, "timeout", NOT_KNOWN))
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        runs.depth = 0  # (the first run is the outermost: runs inside it ended)
        if runs.count == 1:  # no run began inside it (that one would have listed it)
            runs.first_end = _failed(exc)
        raise
    try:
        runs.depth = 0
        if runs.count == 1:
            # Not the response itself: holding it until the sender reads it would keep its
            # socket file open past the user's own use of it.
            runs.first_end = ended = _answered(response)
            # botocore's: a body of no declared length is counted from its response (until
            # the call closes: botocore.py).
            if ended[3] is None and call.aws is not None:
                runs.unsized = response
        return response
    finally:
        del response  # this frame may outlive the call (see capture/call.py)


def _run_later(call: calls.Call, wrapped: Callable[..., Any], pool: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A later run of a pool's urlopen inside `call` (a redirect hop, a retry): one attempt."""
    runs = call.runs
    run = None if runs is None else _begin(call, runs, pool, args, kwargs)
    if runs is None or run is None:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        _end(call, runs, run, exc)
        raise
    try:
        _end(call, runs, run, response)
        return response
    finally:
        del response  # this frame may outlive the call (see capture/call.py)


def _begin(call: calls.Call, runs: PoolRuns, pool: Any, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> Run | None:
    """A run begins: the run before it is listed now if it was only kept, and ended now if
    urllib3 retries or redirects from inside it. None if it cannot be followed."""
    try:
        t0 = perf_counter()
        target = _argument(args, kwargs, "url") or ""
        origin = None if target.startswith(ABSOLUTE) else _origin(pool)
        first = runs.first
        if first is not None and runs.latest is None:  # the first run was only kept: list it
            _list_first(call, runs, first)
        if runs.depth:  # urllib3 retries or redirects from inside the run before
            _end_outer(call, runs, _argument(args, kwargs, "retries"), t0)
        elif not call.target:  # botocore's call: located by its first attempt (before it hangs)
            call.method = _argument(args, kwargs, "method") or ""
            call.origin, call.target = origin, target
        runs.count += 1
        runs.depth += 1
        runs.latest = run = Run(runs.count, t0, origin, target)
    except Exception as exc:
        diagnostics.swallowed("capture.urllib3.begin", exc)
        return None
    return run


def _list_first(call: calls.Call, runs: PoolRuns, first: KeptRun) -> None:
    """The kept first run, read now that a second one begins; listed if it ended."""
    if not call.target:  # botocore's call: located by its first run
        _settle(call, runs)
    t0, pool, args, kwargs = first
    target = _argument(args, kwargs, "url") or ""
    runs.latest = run = Run(1, t0, None if target.startswith(ABSOLUTE) else _origin(pool),
                            target)
    ended = runs.first_end
    if ended is not None and not runs.depth:
        _list(call, run, ended)


def _end(call: calls.Call, runs: PoolRuns, run: Run, outcome: Any) -> None:
    """`run` returned `outcome` (its response, or the exception it raised): list its attempt,
    unless a later run began inside it (which listed it already). Never raises."""
    try:
        runs.depth -= 1
        if runs.count != run.number:
            return
        _list(call, run, _failed(outcome) if isinstance(outcome, BaseException)
              else _answered(outcome))
    except Exception as exc:
        diagnostics.swallowed("capture.urllib3.end", exc)
        return


def _end_outer(call: calls.Call, runs: PoolRuns, retries: Any, now: float) -> None:
    """The run in progress ended when urllib3 decided to retry it or follow its redirect: list
    it with the outcome urllib3 recorded (`Retry.history`)."""
    latest = runs.latest
    # None: the run is the call the pool opened itself, located as the call is.
    run = latest if latest is not None else Run(1, call.t0, call.origin, call.target)
    history = getattr(retries, "history", None)
    last = history[-1] if history else None
    error = getattr(last, "error", None)
    _list(call, run, (now, getattr(last, "status", None),
                      calls.describe_error(error) if isinstance(error, BaseException) else None,
                      None))


def _list(call: calls.Call, run: Run, ended: RunEnd) -> None:
    """List `run` as an attempt of `call`, `ended` as it did."""
    t1, status, error, size = ended
    calls.add_attempt(call, Attempt(call.wall_offset_us + run.t0 * 1e6, (t1 - run.t0) * 1000.0,
                                    status, error, run.origin, run.target, size))


def _answered(response: Any) -> RunEnd:
    """How a run ended, now, when it got `response`. Its size: the body's, if urllib3 read it,
    else the length urllib3 expects to read (its Content-Length, and 0 for a response without
    a body: a HEAD's, 1xx, 204, 304), read before the user reads any."""
    body = getattr(response, "_body", None)
    return perf_counter(), response.status, None, len(body) if isinstance(body, bytes) else \
        getattr(response, "length_remaining", None)


def _failed(exc: BaseException) -> RunEnd:
    """How a run ended, now, when it raised (MaxRetryError: the wire error it wraps)."""
    reason = getattr(exc, "reason", None)
    error = calls.describe_error(reason if isinstance(reason, BaseException) else exc)
    return perf_counter(), None, error, None


def _settle(call: Record, runs: PoolRuns) -> None:
    """Locate a call from its kept first run (botocore's: its method, URL and request size are
    its first request's). Runs when a second run begins, when the call closes (runs.py
    `release`, which also takes the outcome of a call's only run), or before, on the sender
    thread, for a `start` notice: never the outcome here, which a retry may yet replace.
    Idempotent; never raises."""
    try:
        first = runs.first
        if first is None or call.target:
            return
        _, pool, args, kwargs = first
        if args:  # (botocore passes every argument by keyword)
            kwargs = {**dict(zip(URLOPEN_PARAMETERS, args, strict=False)), **kwargs}
        get = kwargs.get
        target = get("url") or ""
        call.method = get("method") or ""
        call.origin = None if target.startswith(ABSOLUTE) else _origin(pool)
        call.target = target
        if call.bytes_sent is None:  # the body in memory, else its Content-Length
            call.bytes_sent = size = calls.body_size(get("body"))
            headers = get("headers")
            if size is None and headers is not None:
                call.bytes_sent = calls.sent_length(headers)
    except Exception as exc:
        diagnostics.swallowed("capture.urllib3.settle", exc)
        return


def patch_pool(module: ModuleType) -> None:
    patching.wrap(module.HTTPConnectionPool, "urlopen", _pool_urlopen)
    connections.patch(connections.patch_urllib3)  # (urllib3.connection: loaded with the pool)
    response = getattr(sys.modules.get(RESPONSE_MODULE), "HTTPResponse", None)
    if isinstance(response, type):  # (loaded by urllib3.connectionpool)
        patching.wrap(response, "_handle_chunk", _handle_chunk)


def patch_manager(module: ModuleType) -> None:
    patching.wrap(module.PoolManager, "urlopen", _manager_urlopen)
