"""The recap's shape: docs/RECAP.md as types (shared; written by the extension, read by the viewer).

The extension writes one recap per invocation (external/aggregate/recap.py builds it from the
wire CALLs of httprecap.wire); sinks ship it and the viewer reads it back. Each part of it has
one typed definition here, named as docs/RECAP.md names it, with the JSON field names of the
contract. Like the wire's, they are `TypedDict`s for mypy only: a recap is a plain dict (or
the extension's `EncodedRecap`) at run time, the classes do not exist (``typing`` costs
start-up time), and other modules import them under ``if TYPE_CHECKING:``.

A recap read from a log is only as good as what wrote it: readers that take recaps from
outside (the viewer) still check each value as they use it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs start-up time; see httprecap.settings
if TYPE_CHECKING:
    from typing import Any, TypedDict

    from httprecap.wire import AwsInfo, ErrorInfo

    # Required keys in one class, optional ones (`total=False`) in a subclass, as in
    # httprecap.wire.

    class RecapAttempt(TypedDict):
        """A wire attempt (redirect hop, retry) inside a call."""

        startedAt: str  # ISO-8601 UTC with microseconds
        durationMs: float
        status: int | None
        error: ErrorInfo | None
        url: str  # redacted

    # A recap call in two parts, the fields before `offsetMs` and those after it, because
    # the extension encodes them apart (the offset is known only once the invocation ends).
    # None, in a field the function process always writes, only if a sender left it out.

    class RecapCallHead(TypedDict):
        """A call's fields before `offsetMs`: the request."""

        id: str
        method: str
        url: str  # redacted
        scheme: str | None
        host: str
        port: int | None
        path: str | None
        status: int | None  # of the final response
        startedAt: str

    class _RecapCallTailRequired(TypedDict):
        durationMs: float
        error: ErrorInfo | None
        bytesSent: int | None
        bytesReceived: int | None
        library: str | None
        thread: str | None
        attempts: list[RecapAttempt]  # empty for a call of one attempt

    class RecapCallTail(_RecapCallTailRequired, total=False):
        """A call's fields after `offsetMs`: the outcome; the optional ones are present only
        when they say something."""

        aws: AwsInfo
        proxy: str  # a forward proxy's host:port
        timeoutS: float | None  # the effective timeout; None: unbounded
        connection: str  # "new" or "reused"
        connectMs: float  # for a new connection: connecting (TCP)
        tlsMs: float  # and in TLS handshakes
        inFlight: bool  # always true when present
        # Opt-in (HTTPRECAP_CAPTURE_HEADERS / _BODIES), as redacted: header name -> value.
        requestHeaders: dict[str, str]
        responseHeaders: dict[str, str]
        requestBody: str
        responseBody: str

    class RecapCall(RecapCallHead, RecapCallTail):
        """One outbound HTTP call (docs/RECAP.md, *Call fields*)."""

        offsetMs: float  # after the invocation's start

    class Slowest(TypedDict):
        id: str
        method: str
        host: str
        path: str | None
        durationMs: float

    class HostSummary(TypedDict):
        host: str
        count: int
        errors: int
        totalMs: float
        maxMs: float

    class OtherHosts(TypedDict):
        """The hosts beyond the summary's first 20, summed."""

        hosts: int  # how many
        count: int
        errors: int
        totalMs: float
        maxMs: float

    class _RecapSummaryRequired(TypedDict):
        count: int
        errors: int
        totalHttpMs: float
        httpShare: float  # 0 to 1
        bytesSent: int
        bytesReceived: int
        slowest: Slowest | None
        hosts: list[HostSummary]  # by totalMs, largest first; at most 20

    class RecapSummary(_RecapSummaryRequired, total=False):
        """Aggregates over the calls (docs/RECAP.md, *Summary fields*)."""

        otherHosts: OtherHosts  # only when the calls went to more than 20 hosts
        findings: dict[str, int]  # finding kind -> how many

    class Dropped(TypedDict):
        """Calls lost to a bound, by reason (`wire.INVALID_CALL`, `bufferFull`, ...)."""

        count: int
        reasons: dict[str, int]

    class Overhead(TypedDict):
        functionUs: int | None  # None without the internal extension
        extensionMs: float

    class Truncated(TypedDict, total=False):
        """What a sink's size limit removed."""

        calls: int
        hosts: int
        fields: bool  # only the invocation's identity is left

    class _RecapRequired(TypedDict):
        type: str  # "httprecap.recap"
        version: int  # 1
        level: str  # INFO, WARN, ... for Lambda's log-level filtering
        timestamp: str  # RFC 3339: the invocation's start (= startedAt)
        phase: str  # "invoke" or "init"
        requestId: str
        functionName: str
        functionVersion: str
        status: str | None  # success, error, timeout, failure; None when nothing could tell
        startedAt: str
        durationMs: float
        traceId: str | None
        calls: list[RecapCall]  # in start order
        summary: RecapSummary
        dropped: Dropped
        overhead: Overhead

    class Recap(_RecapRequired, total=False):
        """One invocation's recap (docs/RECAP.md, *Invocation fields*)."""

        # What a fleet query groups by, each where known (docs/RECAP.md, *Context fields*).
        functionArn: str  # as invoked: with the alias or version it was invoked through
        alias: str
        region: str
        accountId: str
        memorySizeMB: int
        architecture: str  # x86_64 or arm64
        runtime: str  # python3.X
        tenantId: str  # functions in tenant-isolation mode only
        # Each: kind, severity, message, callIds, then the fields of its kind (docs/FINDINGS.md).
        findings: list[dict[str, Any]]
        hint: str
        truncated: Truncated
        compact: bool  # HTTPRECAP_KEEP=notable left the calls out: always true when present
