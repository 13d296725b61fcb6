"""Capture: one `Call` per logical HTTP call, made by the outermost client that sees it
(runs in the function process, on the user's threads: this is the hot path).

Clients nest: botocore -> urllib3 -> http.client, requests -> urllib3 -> http.client. The
outermost wrapper opens the call and parks it in its thread's `Slot`; an inner layer of the same
logical call finds it there and steps aside, except urllib3's pool, which lists each of its runs
inside the call as a wire attempt (a redirect hop or a retry). So nothing is counted twice. A
thread-local (not a context variable) is right here: these clients block their thread for the
whole call, so two calls never interleave on one thread.

What is one logical call: a client's own recursion is (requests' redirects call ``send`` again,
a PoolManager follows its redirects through ``urlopen``), and so is a user's transport under
httpx. Another client entered inside a call makes a call of its own, and so does botocore inside
botocore (it never re-enters ``_make_api_call`` for its own retries): botocore fetching
credentials from STS inside an S3 call is two calls. The inner call remembers the outer one
(`Call.outer`) and gives the slot back to it when it closes. requests' response hooks run inside
the outer ``send`` (`Call.in_hooks`): a client entered there makes a call of its own too, while
a resend an auth hook makes through the adapter (``HTTPDigestAuth``'s) stays an attempt.

A call that got its answer without reaching the wire (moto's in-process mock, ``responses``,
a stubbed client) is not an HTTP call and leaves no trace: no record, and no `start` notice
before it was located on the wire (`on_wire`). One that failed before the wire keeps its record
with the error.

Frames hold nothing longer than the call. A frame can outlive its call: urllib3 keeps the
exception of an attempt it retries, whose traceback keeps the frame of its ``urlopen``, and a
kept frame keeps its caller's frame (``f_back``) and that frame's locals, up to the first frame
still running. A wrapper's local bound to the response would keep it, and its socket, open until
the cyclic garbage collector runs. So no wrapper binds the user's result to a local that
survives its return: `run` shows the idiom (``del`` in a ``finally``); arguments are left alone,
since urllib3's kept frames hold them anyway.

What a call costs its caller is what runs here, so the path is short on purpose: one clock
reading at each end, a few strings and ints copied from the user's objects, one append; the
call id, the wall-clock time, the URL's parts, redaction and JSON come later, on the sender
(transport/encode.py). Each Python function call costs as much as a dozen simple operations,
so the common case runs through few of them. Nothing here raises: every piece of bookkeeping
is inside ``try/except Exception``; the user's call itself runs outside of it, and its
exception is re-raised with a bare ``raise`` (same object, same traceback).
"""

from __future__ import annotations

import threading
from _weakrefset import WeakSet  # what threading itself uses: loaded already
from collections.abc import Callable, Iterator
from threading import current_thread
from time import perf_counter
from typing import TYPE_CHECKING, Any

from httprecap.internal import diagnostics, invocation
from httprecap.internal.capture.runs import RELEASED, PoolRuns, release
from httprecap.internal.transport.record import Attempt, Record

if TYPE_CHECKING:
    from httprecap.internal.transport.record import Sink


class Options:
    """What to copy besides the basics (HTTPRECAP_CAPTURE_HEADERS / _BODIES)."""

    __slots__ = ("bodies", "body_window", "copies", "excluded", "excluded_ports", "headers")

    def __init__(self, headers: bool = False, bodies: bool = False, body_window: int = 3072,
                 excluded: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.headers = headers
        self.bodies = bodies
        self.copies = headers or bodies  # one test on the hot path for the usual case: neither
        self.body_window = body_window
        # (host, port) pairs that are never calls: the extension's collector, the Runtime API.
        self.excluded = excluded
        self.excluded_ports = frozenset(port for _, port in excluded)  # (one test per call)


class Call(Record):
    """A logical call as seen on the hot path: the `Record` handed to transport, and what the
    capture keeps while it runs (its thread's slot, the call it opened inside, the urllib3
    runs inside it).

    Fields a call may never set are class-level defaults (no __slots__): every attribute
    stored in __init__ is paid on every call.
    """

    slot: Slot
    outer: Call | None = None  # the call open on its thread when it opened (module docstring)
    in_hooks = False  # requests is running its response hooks inside it
    in_flight = False  # held in the sink's in-flight set (`open_call` with nest=False)
    runs: PoolRuns | None = None  # the urllib3 pool runs inside it (capture/runs.py)
    connecting = False  # a connection is being opened in it (capture/connections.py)
    pooled = False  # its client's own pool is one whose new connections are seen (httpx's)

    def __init__(self, library: str, slot: Slot) -> None:
        self.library = library
        state = invocation.state
        request_id = state.request_id
        self.request_id = request_id if request_id is not None else \
            invocation.current_request_id()
        self.slot = slot
        self.thread = slot.thread  # its name is read on the sender
        self.wall_offset_us = state.wall_offset_us
        self.t0 = perf_counter()

    @property
    def started_us(self) -> int:
        """When the call started, in epoch µs."""
        return invocation.wall_us(self.t0, self.wall_offset_us)

    def on_wire(self) -> bool:
        """Whether it was located on the wire (`Record.on_wire`): a client located by the
        urllib3 runs inside it may yet be answered without one (a mock)."""
        return self.runs is not None or self.library not in _LOCATED_BY_URLLIB3

    def watches_connections(self) -> bool:
        """Whether a new connection it opened would have been seen (capture/connections.py):
        one that went through a urllib3 pool, http.client's, aiohttp's, httpx's own pool."""
        return self.runs is not None or self.pooled or self.library in _CONNECTING

    def locate(self) -> None:
        """A call its client did not locate (botocore's) is located from its first urllib3
        run (`PoolRuns.settle`), on the sender thread for a `start` notice."""
        runs = self.runs
        if runs is not None and runs.settle is not None:
            runs.settle(self, runs)


class Slot:
    """One thread's: the outermost call open on it, and the thread itself.

    Reading a thread-local costs as much as a dozen plain attribute reads; each wrapper reads
    it once (`local.slot`) and a call keeps its slot, to be closed without reading it again.
    The sender looks through every thread's slot for calls to announce (`open_calls`).
    """

    __slots__ = ("__weakref__", "call", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.call: Call | None = None
        self.thread = thread
        _slots.add(self)


class _Local(threading.local):
    def __init__(self) -> None:  # runs once in each thread that touches it
        self.slot = Slot(current_thread())


_slots: WeakSet[Slot] = WeakSet()  # a slot goes with its thread's thread-local storage
local = _Local()
# Where finished calls go, and what to copy: given once at start-up (`configure`), read by
# every capture module from here (one module attribute per call).
sink: Sink | None = None
options = Options()

Describe = Callable[[Call, Any, tuple[Any, ...], dict[str, Any]], None]
# What an outcome returns: None for a call to hand over now (the usual case: one test in
# `close`), False for one that never reached the wire (discarded), LATER for one whose body the
# user reads after the call returned (handed over by capture/reading.py).
Outcome = Callable[[Call, Any], "bool | str | None"]
LATER = "later"


def configure(to: Sink | None, copying: Options | None = None) -> None:
    """Capture into `to` (the transport's buffer), copying what `copying` says; None stops
    capturing (a call open meanwhile is dropped when it closes)."""
    global sink, options  # noqa: PLW0603 (set once, read by every call: one lookup)
    sink = to
    options = Options() if copying is None else copying


def capturing() -> bool:
    """Whether calls are captured now (a wrapper steps aside at once when not)."""
    return sink is not None


def current() -> Call | None:
    """The outermost call open on this thread, if any."""
    return local.slot.call


def open_calls() -> Iterator[Call]:
    """The calls open now on every thread, the innermost first (the sender's `start`
    notices); may raise RuntimeError when a thread starts meanwhile."""
    for slot in tuple(_slots):
        call = slot.call
        while call is not None:
            yield call
            call = call.outer


# Clients whose calls reach the wire through urllib3 only when no mock, stub or adapter of the
# user's answers them first.
_LOCATED_BY_URLLIB3 = frozenset({"requests", "botocore", "urllib3"})

# Clients whose every call connects where capture/connections.py sees it.
_CONNECTING = frozenset({"http.client", "aiohttp"})

# What a client's open call may run inside it as part of the same logical call: its own
# recursion, and under httpx a user's transport built on urllib3 or requests. Any other client
# entered inside it opens a call of its own (botocore carries nothing: not even botocore).
_CARRIES = {"requests": ("requests",), "urllib3": ("urllib3",),
            "httpx": ("httpx", "urllib3", "requests")}


def open_call(library: str, describe: Describe, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any], *, nest: bool = True) -> Call | None:
    """Start a call, unless the call open on this thread carries this one (then None: step
    aside, see the module docstring).

    `nest=False` is for http.client (the innermost layer) and the async clients: the call is
    not parked in the thread's slot but in the sink's in-flight set, so a connection the user
    abandons mid-request cannot silence the thread, and interleaved tasks stay apart.
    """
    target = sink
    slot = local.slot
    outer = slot.call
    if target is None or (outer is not None and not _opens_inside(outer, library, nest)):
        return None
    try:
        call = Call(library, slot)
        describe(call, instance, args, kwargs)
        origin = call.origin
        if origin is not None and origin[2] in options.excluded_ports and \
                origin[1:] in options.excluded:
            return None
        if target.sender_idle:
            target.watch()  # so a call that hangs is named by a `start` notice
        if not nest:
            target.inflight.add(call)
            call.in_flight = True
            return call
    except Exception as exc:
        diagnostics.swallowed("capture.call.open_call", exc)
        return None
    if outer is not None:
        call.outer = outer
    slot.call = call
    return call


def _opens_inside(outer: Call, library: str, nest: bool) -> bool:
    """Whether `library`, entered inside `outer`, makes a logical call of its own."""
    if not nest:  # http.client under urllib3, an async client: the outer call's wire
        return False
    return outer.in_hooks or library not in _CARRIES.get(outer.library, ())


def run(call: Call, wrapped: Callable[..., Any], args: tuple[Any, ...],
        kwargs: dict[str, Any], outcome: Outcome) -> Any:
    """Run the user's call inside `call`, then close it; the user's result is untouched."""
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        close(call, exc=exc)
        raise
    try:
        close(call, result=result, outcome=outcome)
        return result
    finally:
        del result  # this frame may outlive the call (module docstring): not the response


def close(call: Call, result: Any = None, outcome: Outcome | None = None,
          exc: BaseException | None = None) -> None:
    """Finish `call` and hand it to the sink; never raises. What its client did not say (its
    status, its size) the encoder takes from its last attempt (transport/encode.py). An
    `outcome` that returns False says the call never reached the wire: it is discarded
    instead; one that returns LATER has its body followed (capture/reading.py), which hands
    the call over."""
    slot = call.slot
    if slot.call is call:
        slot.call = call.outer
    try:
        call.duration_ms = (perf_counter() - call.t0) * 1000.0
        if exc is not None:
            call.error = describe_error(exc)
        elif outcome is not None:
            kept = outcome(call, result)
            if kept is not None:
                _set_aside(call, kept)
                return
        runs = call.runs
        if runs is not None:
            # What a call needs from its kept first run (botocore's location; its status, if
            # its client said none) is read now; the runs go with their references.
            if runs.settle is not None or call.status is None:
                release(call, runs)
            call.runs = RELEASED
        target = sink
        if target is not None:
            if call.in_flight:  # (http.client's and the async clients' calls)
                target.inflight.discard(call)
            target.put_call(call)
    except Exception as failure:
        diagnostics.swallowed("capture.call.close", failure)


def _set_aside(call: Call, kept: bool | str) -> None:
    """A call its outcome kept from being handed over now: discarded (False), or with its body
    followed (LATER), its first run released all the same."""
    runs = call.runs
    if kept is False:
        discard(call)
    elif runs is not None and runs.first is not None:
        release(call, runs)


def discard(call: Call) -> None:
    """Forget `call` without recording it (one that never reached the wire)."""
    slot = call.slot
    if slot.call is call:
        slot.call = call.outer
    target = sink
    if target is not None and call.in_flight:
        target.inflight.discard(call)


def park(call: Call) -> bool:
    """Hold `call`, finished at its response's head, among the calls in flight while its body
    comes (named by a `start` notice meanwhile); False when not capturing."""
    target = sink
    if target is None:
        return False
    target.inflight.add(call)
    return True


def hand_over(call: Call) -> None:
    """Hand `call` to the sink now (one parked while its body came)."""
    target = sink
    if target is not None:
        target.inflight.discard(call)
        target.put_call(call)


def add_attempt(call: Call, attempt: Attempt) -> None:
    """List a wire attempt of `call` (a redirect hop, a retry; the first one too, once a second
    follows: the sender lists attempts only for a call of two or more). Every client that sees
    its own hops lists them here."""
    attempts = call.attempts
    if attempts is None:
        call.attempts = [attempt]
    elif len(attempts) < 50:  # wire.MAX_ATTEMPTS: a retry storm keeps its first attempts
        attempts.append(attempt)


def describe_error(exc: BaseException) -> tuple[str, str] | None:
    """(type name, raw message): redacted and shortened later, on the sender thread."""
    try:
        return type(exc).__name__, str(exc)[:2000]
    except Exception as failure:
        diagnostics.swallowed("capture.call.describe_error", failure)
        return type(exc).__name__, ""


def note_request(call: Call, body: Any, headers: Any) -> None:
    """Body size, and headers/body when opted in, of the request being sent."""
    call.bytes_sent = 0 if body is None else sent_size(body, headers)
    if options.copies:
        copy_request(call, body, headers)


def sent_size(body: Any, headers: Any) -> int | None:
    """A request body's size: its own, else its Content-Length header; for a stream sent
    chunked, a file's size (known now), else None: counted as it is sent (sending.py)."""
    size = body_size(body)
    if size is None and headers is not None:
        size = sent_length(headers)
    if size is not None:
        return size
    from httprecap.internal.capture import sending  # (loaded with the first streamed body)

    return sending.file_size(body)


def copy_request(call: Call, body: Any, headers: Any) -> None:
    """The request's headers and body, as far as the user opted in."""
    if options.headers:
        call.request_headers = header_pairs(headers)
    if options.bodies:
        call.request_body = body_prefix(body)


def copy_response(call: Call, headers: Any, body: Any) -> None:
    """The response's headers and body, as far as the user opted in."""
    if options.headers:
        call.response_headers = header_pairs(headers)
    if options.bodies:
        call.response_body = body_prefix(body)


def note_response(call: Call, status: int, response: Any, body_attribute: str) -> None:
    """Status, size, and headers/body when opted in, of a response (`body_attribute` names
    where the library keeps a body it already read)."""
    call.status = status
    body = getattr(response, body_attribute, None)
    call.bytes_received = len(body) if isinstance(body, bytes) else \
        received_length(call.method, status, response.headers.get("content-length"))
    if options.copies:
        copy_response(call, response.headers, body)


def received_length(method: str, status: int | None, content_length: Any) -> int | None:
    """bytesReceived from a response's Content-Length header: 0 for a response that has no
    body whatever its headers say (a HEAD's, 1xx, 204, 304: RFC 9110 §6.4.1). Every client
    that reads a size from headers goes through here."""
    if method == "HEAD" or status in (204, 304) or (status is not None and 100 <= status < 200):
        return 0
    return header_length(content_length)


def sent_length(headers: Any) -> int | None:
    """A request's Content-Length header (a body sent from a file, say), or None (chunked)."""
    try:
        return header_length(headers.get("Content-Length", headers.get("content-length")))
    except Exception as exc:
        diagnostics.swallowed("capture.call.sent_length", exc)
        return None


def header_length(value: Any) -> int | None:
    """A Content-Length header value as an int, or None."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def body_size(body: Any) -> int | None:
    """Size of a request body when it is known without reading it (bytes, str, None)."""
    if body is None:
        return 0
    if isinstance(body, (bytes, bytearray, memoryview)):
        return len(body)
    if isinstance(body, str):
        return len(body.encode("utf-8")) if not body.isascii() else len(body)
    return None


def body_prefix(body: Any) -> bytes | str | None:
    """The first bytes of a body that is already in memory (never reads a stream)."""
    if isinstance(body, (bytes, str)):
        return body[: options.body_window]
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body[: options.body_window])
    return None


def header_pairs(headers: Any) -> list[tuple[str, str]] | None:
    """A copy of a headers mapping (or list of pairs) as strings; None if unreadable."""
    if headers is None:
        return None
    try:
        items = headers.items() if hasattr(headers, "items") else headers
        return [(str(name), str(value)) for name, value in items]
    except Exception as exc:
        diagnostics.swallowed("capture.call.header_pairs", exc)
        return None


def current_reset() -> None:
    """Forget every thread's open call (in a child process after fork, where only the thread
    that forked lives on)."""
    for slot in tuple(_slots):
        slot.call = None
    local.slot.call = None
