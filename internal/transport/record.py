"""Transport: what capture hands over: a call's `Record`, its `Attempt`s, an invocation's `End`
(function process).

The function process's data flows one way: capture (capture/call.py) builds a record of each
call and hands it to the `Sink` it was given at start-up (transport/buffer.py); the sender
(transport/sender.py) encodes it (transport/encode.py) and posts it. Transport reads only what
this module defines, so it never imports capture: capture's `Call` is a `Record` with the hot
path's own bookkeeping added (its thread's slot, the urllib3 runs inside it), and the sink
takes any record.

A record is filled on the user's thread with what the client said, as it said it: raw strings
and ints, no URL parsing, no redaction, no JSON. The encoder does the rest on the sender
thread. Fields a call may never set are class-level defaults (no ``__slots__``): every
attribute stored per call is paid by every call.

(Plain classes, not dataclasses or NamedTuples: this module loads at interpreter start, and
those cost start-up time; the wire form of each is typed in ``httprecap.wire``.)
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` names are for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from threading import Thread
    from typing import Literal, Protocol

    Status = Literal["success", "error"]  # how a phase ended (wire.END_STATUSES)

    class Sink(Protocol):
        """Where capture hands its records (transport.buffer.Buffer): a bounded queue, and the
        calls in flight that no thread's slot holds (http.client's, the async clients', those
        whose body is still being read)."""

        inflight: set[Record]
        sender_idle: bool

        def put_call(self, call: Record) -> None: ...

        def watch(self) -> None: ...

    # What the sender asks capture for (given at start-up): the calls open on every thread,
    # the innermost first; may raise RuntimeError when a thread starts meanwhile.
    Running = Callable[[], Iterator["Record"]]

# (scheme, host, port) of a request, when the client knows them without parsing a URL.
Origin = tuple[str, str, int]
# An exception as the hot path keeps it: (type name, raw message), redacted on the sender.
Error = tuple[str, str]
# `Record.timeout` of a call whose client did not say (a sentinel: None means unbounded).
NOT_KNOWN = ("not known",)


class Attempt:
    """One wire attempt of a call (a redirect hop, a retry): ``httprecap.wire.WireAttempt``
    before redaction. Listed only for a call of two or more; its URL is ``origin`` and
    ``target`` as a `Record`'s. Made only for a call's second and later requests: about
    150 ns against a bare tuple's 30 (a NamedTuple's 240, and a millisecond to define)."""

    __slots__ = ("duration_ms", "error", "origin", "size", "started_us", "status", "target")

    def __init__(self, started_us: float, duration_ms: float,  # noqa: PLR0917 (hot: no keywords)
                 status: int | None, error: Error | None, origin: Origin | None, target: str,
                 size: int | None) -> None:
        self.started_us = started_us  # epoch µs (a float here: written as an int)
        self.duration_ms = duration_ms
        self.status = status
        self.error = error
        self.origin = origin
        self.target = target
        self.size = size  # bytesReceived: what the call's client did not say, this one does

    def __repr__(self) -> str:
        return (f"Attempt(status={self.status!r}, error={self.error!r}, "
                f"target={self.target!r}, duration_ms={self.duration_ms:.3f})")


class Record:
    """A logical call as capture hands it over: ``httprecap.wire.WireCall`` before encoding.

    `id` is given by the encoder when it first writes the call (a `start` notice or the call
    itself); `noticed` says a `start` notice went out.
    """

    id = 0
    request_id = ""
    library = ""
    thread: Thread  # its name is read when the call is written
    t0 = 0.0  # perf_counter at its start
    wall_offset_us = 0.0  # epoch µs minus perf_counter µs, when it started (invocation.py)
    duration_ms = 0.0
    method = ""
    origin: Origin | None = None
    target = ""  # a path (with origin) or an absolute URL
    status: int | None = None
    error: Error | None = None
    bytes_sent: int | None = None
    bytes_received: int | None = None
    attempts: list[Attempt] | None = None
    aws: tuple[str, str, str, str | None] | None = None  # service, operation, region, resource
    # The forward proxy the request went through: (host, port), or the proxy's URL as its
    # client was given it (userinfo and all: the encoder keeps only host and port).
    proxy: tuple[str, int] | str | None = None
    # The timeout its client was given, raw (a number, a tuple, a client's timeout object, the
    # pool or session whose default applies): resolved to seconds on the sender
    # (transport/timeouts.py). NOT_KNOWN when the client did not say.
    timeout: object = NOT_KNOWN
    # New connections the call opened (capture/connections.py), and the time they spent
    # connecting and in TLS handshakes, summed. None opened, the call is "reused" if its client
    # would have told (`watches_connections`).
    opened = 0
    connect_ms = 0.0
    tls_ms: float | None = None
    request_headers: list[tuple[str, str]] | None = None
    response_headers: list[tuple[str, str]] | None = None
    request_body: bytes | str | None = None
    response_body: bytes | str | None = None
    noticed = False

    def on_wire(self) -> bool:
        """Whether the call was located on the wire: only such a call is announced by a
        `start` notice (capture/call.py: a client answered by a mock never is)."""
        return True

    def watches_connections(self) -> bool:
        """Whether a new connection the call opened would have been seen (capture/call.py):
        only then does one it did not open say its connection was reused."""
        return False

    def locate(self) -> None:
        """Fill in what the call still reads from its first request (capture/call.py), before
        a `start` notice describes it; never raises."""


class End:
    """The `end` marker of an invocation (or init), as queued by the function's thread; the
    sender adds the counts and costs of ``httprecap.wire.EndMessage``."""

    __slots__ = ("duration_ms", "request_id", "started_us", "status", "tenant_id")

    def __init__(self, request_id: str, status: Status, started_us: int,
                 duration_ms: float, tenant_id: str | None = None) -> None:
        self.request_id = request_id
        self.status = status
        self.started_us = started_us
        self.duration_ms = duration_ms
        self.tenant_id = tenant_id

