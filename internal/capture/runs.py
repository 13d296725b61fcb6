"""Capture: the urllib3 pool runs inside one call, in one place (function process, hot path).

Each run of a pool's ``urlopen`` inside a call puts one request on the wire: an attempt of the
call (capture/urllib3.py opens and ends them). A call keeps what it knows of its runs in one
`PoolRuns` (``Call.runs``), made when the first run begins: a call answered without reaching
the wire (a mock) has none. What reads it:

- capture/urllib3.py: each run begins and ends there, and lists the attempt it was;
- capture/call.py: whether a call reached the wire (`Call.on_wire`), and, when it closes,
  `release` of its first run's references;
- capture/requests.py, botocore.py, httpx.py: whether (and how often) a call reached the wire.

The first run is cheap on purpose. Inside an outer client's call (requests, a PoolManager,
botocore) it keeps raw references only (`KeptRun`) and, once it ended with no run inside it,
its outcome (`RunEnd`): read into an attempt only if a second run begins, or, for botocore,
to locate the call (`PoolRuns.settle`), and released when the call closes: a call made with
one request pays next to nothing for its attempt. Later runs are `Run`s.

What a run read of its response's body, off the wire, is here too (`wire_read`, `wire_done`):
capture/urllib3.py and botocore.py size a body read inside the call with it, and
capture/urllib3_body.py one read after it, which loads only with the first such body.
"""

from __future__ import annotations

from typing import Any

from httprecap.internal.transport.record import Error, Origin, Record

TYPE_CHECKING = False  # start-up budget: `typing` names are for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable

CHUNKS = "_httprecap_chunks"  # on a response read chunked: the bytes of its chunks so far

# The first run as kept: (perf_counter at its start, the pool, urlopen's args and kwargs).
KeptRun = tuple[float, Any, tuple[Any, ...], dict[str, Any]]
# How a run ended: (perf_counter at its end, status, error, size).
RunEnd = tuple[float, "int | None", "Error | None", "int | None"]


class Run:
    """A run that was read: its number (1 for the first), start and request's location."""

    __slots__ = ("number", "origin", "t0", "target")

    def __init__(self, number: int, t0: float, origin: Origin | None, target: str) -> None:
        self.number = number
        self.t0 = t0  # perf_counter
        self.origin = origin
        self.target = target


class PoolRuns:
    """The urllib3 runs inside one call. Class-level defaults, and no ``__init__``: made on
    every call that reaches the wire, it costs one allocation."""

    count = 1  # runs begun (this object is made by the first)
    depth = 1  # runs in progress: urllib3 retries and redirects from inside the run before
    latest: Run | None = None  # the run in progress, once a second one began
    first: KeptRun | None = None  # the first run inside an outer client's call, as kept
    first_end: RunEnd | None = None  # how it ended, when no run began inside it
    # What locates a call its client did not (botocore's) from its first run.
    settle: Callable[[Record, PoolRuns], None] | None = None
    # The response of a botocore call's only run when it declared no length (chunked): its
    # body, read by botocore or the user, is counted from it (capture/botocore.py `_close`).
    unsized: Any = None


# What a call handed over keeps as its runs (`Call.runs`): that it had some (`Call.on_wire`),
# nothing else. Its own would be traversed by each garbage collection until the sender writes it.
RELEASED = PoolRuns()


def count(runs: PoolRuns | None) -> int:
    """How many runs began inside `call` (0: it did not reach the wire through urllib3)."""
    return 0 if runs is None else runs.count


def release(call: Record, runs: PoolRuns) -> None:
    """The call closes: read what it still needs from its kept first run (botocore's location:
    `settle`; the outcome of its only run), then drop the run's references: the pool and the
    request's arguments (headers, signature, body). Held until the sender writes the call,
    they were traversed by every garbage collection meanwhile: one A/B measured 5 µs per
    requests call and 16 µs per boto3 call for keeping them."""
    settle = runs.settle
    if settle is not None:
        settle(call, runs)
        runs.settle = None
    ended = runs.first_end
    # Status and size from the call's only run, if it ended, when its client said none
    # (botocore's; an exception's).
    if call.status is None and ended is not None and not call.attempts:
        _, call.status, _, size = ended
        if call.bytes_received is None:
            call.bytes_received = size
    runs.first = runs.first_end = None


def wire_read(raw: Any) -> int:
    """The body bytes urllib3 read off the wire for `raw` so far, before decoding: its count
    (``tell``), and a chunked body's chunks, which urllib3 reads itself around that count
    (capture/urllib3.py `_handle_chunk`)."""
    return int(raw._fp_bytes_read or 0) + int(raw.__dict__.get(CHUNKS, 0))


def wire_done(raw: Any) -> bool:
    """Whether nothing more of `raw`'s body can come: http.client lets go of the socket at
    the body's end (and a response with no http.client one under it reads none)."""
    return getattr(raw._fp, "fp", None) is None
