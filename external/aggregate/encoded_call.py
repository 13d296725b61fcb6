"""Aggregate: one wire CALL as a recap call, encoded once when it arrives (extension process).

The recap lists each call with `offsetMs`, its start relative to the invocation's, which is
known only once the invocation ends. Everything else about a call is known when it arrives,
so the collector's thread renders and encodes it then, while the function still runs, and
keeps only that JSON (split around `offsetMs`) and the few numbers the summary needs. After
the runtime's response, when the extension's time is billed, only the offsets are left to
write. Field order follows docs/RECAP.md.
"""

from __future__ import annotations

import time
from operator import attrgetter

from httprecap.external.aggregate import encode
from httprecap.external.aggregate.encode import compact_json, utf8_size
from httprecap.external.aggregate.findings.call_facts import CallFacts

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal

    from httprecap.recap_schema import RecapAttempt, RecapCall, RecapCallHead, RecapCallTail
    from httprecap.wire import WireCall

_CALL_OPTIONAL: tuple[Literal["proxy", "requestHeaders", "responseHeaders", "requestBody",
                              "responseBody"], ...] = (
    "proxy", "requestHeaders", "responseHeaders", "requestBody", "responseBody")
# A call's connection, where its client tells (after `timeoutS`, which may be null).
_CONNECTION: tuple[Literal["connection", "connectMs", "tlsMs"], ...] = (
    "connection", "connectMs", "tlsMs")
_OFFSET_KEY = ',"offsetMs":'
START_ORDER = attrgetter("begin_us", "id")  # a recap's calls, in start order: the id breaks ties
# No call lasts longer than this (a day; Lambda's longest timeout is 15 minutes): sums of
# durations stay finite, and so does the recap's JSON.
MAX_DURATION_MS = 86_400_000.0


def iso_us(epoch_us: int) -> str:
    """ISO-8601 UTC with microseconds, e.g. 2026-11-23T18:20:01.123456Z."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    prefix = _seconds.get(seconds)
    if prefix is None:  # the calls of one invocation share a handful of seconds
        if len(_seconds) >= MAX_SECONDS:
            _seconds.clear()
        prefix = _seconds[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
    # Six digits already for nine values in ten: written without a format spec (this runs
    # for every call).
    return f"{prefix}{micros}Z" if micros >= 100_000 else f"{prefix}{micros:06d}Z"


MAX_SECONDS = 256
_seconds: dict[int, str] = {}  # epoch second -> its ISO-8601 text up to the fraction


def ms(value: float) -> float:
    """Milliseconds as the recap writes them: three decimals (whole microseconds)."""
    # Most values have three decimals already (a sender's durations, microseconds / 1000):
    # telling so costs a third of rounding them.
    micros = round(value * 1000)
    return value if micros / 1000 == value else round(value, 3)


def is_error(call: WireCall) -> bool:
    status = call.get("status")
    return call.get("error") is not None or (isinstance(status, int) and status >= 400)


def _head(call: WireCall, begin_us: int) -> RecapCallHead:
    """The fields before `offsetMs`."""
    return {"id": call.get("id"), "method": call.get("method"), "url": call.get("url"),
            "scheme": call.get("scheme"), "host": call.get("host"), "port": call.get("port"),
            "path": call.get("path"), "status": call.get("status"),
            "startedAt": iso_us(begin_us)}


def _tail(call: WireCall, duration_ms: float, in_flight: bool) -> RecapCallTail:
    """The fields after `offsetMs`."""
    tail: RecapCallTail = {
        "durationMs": duration_ms, "error": call.get("error"), "bytesSent": call.get("bytesSent"),
        "bytesReceived": call.get("bytesReceived"), "library": call.get("library"),
        "thread": call.get("thread"),
        "attempts": [_attempt(item) for item in call.get("attempts") or []
                     if isinstance(item, dict)]}
    aws = call.get("aws")
    if aws:
        tail["aws"] = aws
    if in_flight:
        tail["inFlight"] = True
    if "timeoutS" in call:  # (null: unbounded)
        tail["timeoutS"] = call["timeoutS"]
    for member in _CONNECTION:
        told = call.get(member)
        if told is not None:
            tail[member] = told
    for name in _CALL_OPTIONAL:
        value = call.get(name)
        if value is not None:
            tail[name] = value
    return tail


def _attempt(attempt: Any) -> RecapAttempt:
    """A wire attempt as the recap lists it (an attempt's own fields are bounded on the wire,
    not checked: read here as parsed JSON)."""
    started = attempt.get("startedAt")
    if isinstance(attempt.get("startedAtUs"), int):
        started = iso_us(attempt["startedAtUs"])
    return {"startedAt": started, "durationMs": attempt.get("durationMs"),
            "status": attempt.get("status"), "error": attempt.get("error"),
            "url": attempt.get("url")}


def _duration_ms(call: WireCall, begin_us: int, in_flight_until_us: int | None) -> float:
    if in_flight_until_us is None:
        return _finished_ms(call.get("durationMs"))
    return ms(max(in_flight_until_us - begin_us, 0) / 1000)


def _finished_ms(value: Any) -> float:
    """A finished call's `durationMs` as the recap writes it."""
    duration = float(value or 0.0)
    if not -MAX_DURATION_MS <= duration <= MAX_DURATION_MS:  # (NaN fails too)
        raise ValueError("durationMs out of range")  # the call is counted, not listed
    return ms(duration)


def render_call(call: WireCall, started_us: int,
                in_flight_until_us: int | None = None) -> RecapCall:
    """One wire CALL as a recap call; `in_flight_until_us` marks a call that never finished."""
    begin = int(call["startedAtUs"])
    duration = _duration_ms(call, begin, in_flight_until_us)
    return {**_head(call, begin), "offsetMs": ms((begin - started_us) / 1000),
            **_tail(call, duration, in_flight_until_us is not None)}


def _value(value: Any) -> str:
    """A validated wire value as JSON, as `compact_json` writes it: scalars directly, the
    rest (error, aws, attempts, captured headers) through the encoder."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        quote = encode.quote
        if quote is None:
            encode.load_json()
            quote = encode.quote
            assert quote is not None
        return quote(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and value - value == 0.0:  # finite (NaN and infinities: the encoder's way)
        return float.__repr__(value)
    return compact_json(value)


def _encoded_head(call: WireCall, begin_us: int) -> str:
    """`compact_json(_head(call, begin_us))` without its closing brace, written directly."""
    get = call.get
    return (f'{{"id":{_value(get("id"))}{_located_members(call)}'
            f',"status":{_value(get("status"))},"startedAt":"{iso_us(begin_us)}"')


def _located_members(call: Mapping[str, Any]) -> str:
    """The members between `id` and `status`: method, URL, scheme, host, port and path."""
    get = call.get
    where = (get("method"), get("url"), get("scheme"), get("host"), get("port"), get("path"))
    located = _located.get(where)
    if located is None:  # a function calls the same few endpoints: each is written once
        method, url, scheme, host, port, path = where
        located = (f',"method":{_value(method)},"url":{_value(url)},"scheme":{_value(scheme)}'
                   f',"host":{_value(host)},"port":{_value(port)},"path":{_value(path)}')
        _kept(_located)[where] = located
    return located


def _kept(cache: dict[Any, str]) -> dict[Any, str]:
    """`cache`, emptied when full (a function with more endpoints than it holds pays for
    writing them again, nothing more)."""
    if len(cache) >= MAX_KEPT:
        cache.clear()
    return cache


# Written members kept by the values they are written from (the collector's thread only).
MAX_KEPT = 256
_located: dict[tuple[Any, ...], str] = {}
_closing: dict[tuple[Any, ...], str] = {}


def _encoded_tail(call: WireCall, duration_ms: float, in_flight: bool) -> str:
    """`compact_json(_tail(...))` without its opening brace, written directly when the call
    has nothing nested to encode (most calls), else by the encoder."""
    get = call.get
    if (in_flight or get("attempts") or get("aws") or get("proxy") is not None
            or get("requestHeaders") is not None
            or get("responseHeaders") is not None or get("requestBody") is not None
            or get("responseBody") is not None):  # (_CALL_OPTIONAL, spelt out: per call)
        return compact_json(_tail(call, duration_ms, in_flight))[1:]
    # Library, thread, timeout and connection: the same for most of a function's calls.
    told = (get("library"), get("thread"), get("timeoutS", _NOT_TOLD), get("connection"),
            get("connectMs"), get("tlsMs"))
    closing = _closing.get(told)
    if closing is None:
        closing = _kept(_closing)[told] = (
            f',"library":{_value(told[0])},"thread":{_value(told[1])}'
            f',"attempts":[]{_connection(call)}}}')
    return (f'"durationMs":{_value(duration_ms)},"error":{_value(get("error"))}'
            f',"bytesSent":{_value(get("bytesSent"))}'
            f',"bytesReceived":{_value(get("bytesReceived"))}{closing}')


_NOT_TOLD = ("not told",)  # a call without `timeoutS` (its client does not say)


def _connection(call: WireCall) -> str:
    """`timeoutS` and the connection's members, as `_tail` writes them."""
    get = call.get
    members = f',"timeoutS":{_value(call["timeoutS"])}' if "timeoutS" in call else ""
    for name in _CONNECTION:
        value = get(name)
        if value is not None:
            members += f',"{name}":{_value(value)}'
    return members


class ShapeParts:
    """What the calls of one wire shape (a `calls` message's) have in common, encoded once for
    all its rows that have no members of their own (`EncodedCall.of_row`): the members
    before `status`, those after `bytesReceived`, and the findings' facts per status."""

    __slots__ = ("_facts", "closing", "extra", "host", "located", "method", "path", "plain",
                 "shape")

    def __init__(self, shape: Mapping[str, Any]) -> None:
        get = shape.get
        self.shape = shape
        # A shape may hold any CALL member; one holding an outcome (the sender's never do)
        # leaves its rows to `EncodedCall` itself.
        self.plain = "error" not in shape and "attempts" not in shape
        # As `EncodedCall` reads them from a CALL (a shape's have been checked the same way).
        self.method: str = shape["method"]
        self.host: str = shape["host"]
        self.path: str | None = get("path")
        self.located = _located_members(shape)
        call = {"attempts": [], **shape}
        # `_tail` of such a call, less its first four members (the row's): ',"library":...}'.
        tail = _tail(call, 0.0, False)  # type: ignore[arg-type]
        for name in ("durationMs", "error", "bytesSent", "bytesReceived"):
            del tail[name]  # type: ignore[misc]
        self.closing = "," + compact_json(tail)[1:]
        # What the shared parts weigh in UTF-8 beyond their length: a row's own values are
        # ASCII but for its id, so its size is its text's length plus this.
        self.extra = (utf8_size(self.located) - len(self.located)
                      + utf8_size(self.closing) - len(self.closing))
        self._facts: dict[int | None, CallFacts] = {}

    def facts(self, status: int | None) -> CallFacts:
        """The facts of a call of this shape that ended with `status` (shared: read only)."""
        facts = self._facts.get(status)
        if facts is None:
            facts = self._facts[status] = CallFacts({**self.shape, "status": status})
        return facts


class EncodedCall:
    """A recap call as JSON, but for its offset: `head + repr(offsetMs) + tail` is the call.

    Also the values the summary needs, so the wire CALL itself need not be kept. This runs
    for every call the extension receives: the fields are written with f-strings and the C
    string quoter, the encoder only for nested values (a third of the cost of encoding two
    dictionaries).
    """

    __slots__ = ("begin_us", "bytes_received", "bytes_sent", "duration_ms", "facts", "failed",
                 "head", "host", "id", "method", "path", "size", "tail")

    def __init__(self, call: WireCall, in_flight_until_us: int | None = None) -> None:
        self.id: str = call["id"]
        self.begin_us = begin = int(call["startedAtUs"])
        self.duration_ms = duration = _duration_ms(call, begin, in_flight_until_us)
        self.head = _encoded_head(call, begin) + _OFFSET_KEY
        self.tail = "," + _encoded_tail(call, duration, in_flight_until_us is not None)
        self.size = utf8_size(self.head) + utf8_size(self.tail)  # all but the offset
        self.failed = is_error(call)
        self.method, self.host, self.path = call.get("method"), call.get("host"), call.get("path")
        self.bytes_sent: int = call.get("bytesSent") or 0
        self.bytes_received: int = call.get("bytesReceived") or 0
        self.facts = CallFacts(call, in_flight_until_us is not None)  # what the findings read

    @classmethod
    def of_row(cls, parts: ShapeParts, row: list[Any]) -> EncodedCall:
        """The call of a checked row with no members of its own (one of ``httprecap.wire.Rows``):
        what `EncodedCall(row's CALL)` makes, from the parts its shape's calls share."""
        _, call_id, begin, duration, status, sent, received = row
        encoded = cls.__new__(cls)
        encoded.id = call_id
        encoded.begin_us = begin
        encoded.duration_ms = duration = _finished_ms(duration)
        # A checked row's id is a string, its status and sizes ints or null: written as
        # `_value` writes them, without a call per value (this runs per row).
        quoted = encode.quote(call_id)  # type: ignore[misc]  # (loaded: the parts are quoted)
        encoded.head = head = (
            f'{{"id":{quoted}{parts.located},"status":'
            f'{"null" if status is None else int.__repr__(status)}'
            f',"startedAt":"{iso_us(begin)}"{_OFFSET_KEY}')
        encoded.tail = tail = (
            f',"durationMs":{float.__repr__(duration)},"error":null'
            f',"bytesSent":{"null" if sent is None else int.__repr__(sent)}'
            f',"bytesReceived":{"null" if received is None else int.__repr__(received)}'
            f'{parts.closing}')
        encoded.size = len(head) + len(tail) + parts.extra + (
            0 if quoted.isascii() else utf8_size(quoted) - len(quoted))
        encoded.failed = status is not None and status >= 400
        encoded.method, encoded.host, encoded.path = parts.method, parts.host, parts.path
        encoded.bytes_sent = sent or 0
        encoded.bytes_received = received or 0
        encoded.facts = parts.facts(status)
        return encoded
