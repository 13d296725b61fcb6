"""Transport: turns a finished call's `Record` into its wire form, redacted (function process,
sender thread).

This is where the hot path's raw strings become a ``httprecap.wire.WireCall``, written as a
row of its invocation's `calls` message over the shape it shares with the calls like it:
URLs are split and redacted, errors shortened and redacted, headers masked, bodies cut. It
runs on the background sender thread, so the user's call never waits for it, but its CPU is
still the function's: messages are written as JSON text directly (strings escaped by the
json module's C encoder) rather than built as dicts and dumped, which costs a third. The
extension's time after the response is billed too: there, a shape is read and checked once
for all its rows, and a row is seven values.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import urlsplit

from httprecap.internal import diagnostics
from httprecap.internal.transport import timeouts
from httprecap.internal.transport.record import NOT_KNOWN, Attempt, Error, Origin, Record
from httprecap.redact import MAX_FIELD_CHARS, Redactor
from httprecap.wire import valid_text, valid_value

DEFAULT_PORTS = {"http": 80, "https": 443}
LOCATE_CACHE_SIZE = 512
DESCRIBED_CACHE_SIZE = 512
OUTCOME_CACHE_SIZE = 256


class Calls:
    """The ``httprecap.wire.CallsMessage`` being written for one invocation: its shapes (by
    what they are made of: members, timeout, connection) and its rows, as JSON text."""

    __slots__ = ("request_id", "rows", "shape_texts", "shapes")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.shapes: dict[tuple[str, str, str], int] = {}
        self.shape_texts: list[str] = []
        self.rows: list[str] = []

    def message(self) -> str:
        return (f'{{"k":"calls","requestId":{_text(self.request_id)}'
                f',"shapes":[{",".join(self.shape_texts)}],"rows":[{",".join(self.rows)}]}}')


class Encoder:
    """Writes `calls` and `start` messages (``httprecap.wire.CallsMessage``, ``StartMessage``)
    as JSON text; one per process (the pid is part of call ids)."""

    def __init__(self, redactor: Redactor, captures: bool = True) -> None:
        self.redactor = redactor
        self.captures = captures  # HTTPRECAP_CAPTURE_HEADERS or _BODIES: look for those fields
        self.id_prefix = f"{os.getpid():x}"
        self._ids = itertools.count(1)  # call ids: the pid's prefix and a number
        # A function calls the same few endpoints again and again: split and redact each once.
        self._located: dict[tuple[Origin | None, str], tuple[str, str, int, str, str]] = {}
        self._described: dict[tuple[Any, ...], str] = {}
        self._outcomes: dict[tuple[Any, ...], tuple[str, str]] = {}

    def calls(self, request_id: str) -> Calls:
        """A new `calls` message for the invocation `request_id`."""
        return Calls(request_id)

    def add_call(self, calls: Calls, call: Record) -> int:
        """Write a finished call into `calls` (its invocation's `calls` message): a row, and
        a shape when it is the first of its kind; the size written.

        This runs once per call, so the common case is one f-string and three dictionary
        lookups: what a function repeats (method, location, library, thread, AWS operation,
        timeout; and status and sizes) is written once (`_described`, `_outcome`), and
        what calls share is written once per message (the shape)."""
        status, received, attempts = call.status, call.bytes_received, call.attempts
        listed = ""
        if attempts:
            # What the call's client did not say, its last attempt does (botocore).
            last = attempts[-1]
            status = last.status if status is None else status
            received = last.size if received is None else received
            # One attempt is the call itself: attempts are listed only when there were several.
            if len(attempts) > 1:
                listed = ",".join(self._attempt(a) for a in attempts)
        key = (call.request_id, call.method, call.origin, call.target, call.library,
               call.thread, call.aws)
        described = self._described.get(key) or self._describe(key)
        outcome_key = (status, call.bytes_sent, received, call.error, listed)
        values, members = self._outcomes.get(outcome_key) or self._outcome(outcome_key)
        call_id = call.id
        if not call_id:  # not announced by a `start` notice: numbered now
            call.id = call_id = next(self._ids)
        # The `connection` member when the call's client tells: one that got an answer
        # without opening a connection reused one (a shape's), one that opened one has its
        # times (the row's own).
        reused = ""
        if call.opened:
            members += _opened(call)
        elif status is not None and call.watches_connections():
            reused = REUSED
        if call.proxy is not None:
            members += _proxy(call.proxy)
        if self.captures:
            members += self._captured(call)
        shape_key = (described, _timeout(call.timeout), reused)
        shape = calls.shapes.get(shape_key)
        size = 0
        if shape is None:
            shape = calls.shapes[shape_key] = len(calls.shape_texts)
            text = f"{{{described}{shape_key[1]}{reused}}}"
            calls.shape_texts.append(text)
            size = len(text)
        # startedAtUs is Call.started_us, written out: a property costs a function call.
        row = (f'[{shape},"{self.id_prefix}-{call_id}"'
               f',{int(call.wall_offset_us + call.t0 * 1e6)},{call.duration_ms:.3f}{values}'
               f'{f",{{{members[1:]}}}" if members else ""}]')
        calls.rows.append(row)
        return size + len(row)

    def _outcome(self, key: tuple[Any, ...]) -> tuple[str, str]:
        """Status and sizes as a row's values; error and attempts as its members, when it has
        them. Kept for the next call that ends the same way (most do: a function calls the
        same endpoints again and again)."""
        status, sent, received, error, listed = key
        # Status and sizes are ints by construction (the libraries' status codes, len(), int()).
        values = (f',{"null" if status is None else int(status)}'
                  f',{"null" if sent is None else int(sent)}'
                  f',{"null" if received is None else int(received)}')
        members = (("" if error is None else f',"error":{self._error(error)}')
                   + (f',"attempts":[{listed}]' if listed else ""))
        outcome = values, members
        if error is None and not listed:  # errors and attempts are rarely the same twice
            if len(self._outcomes) >= OUTCOME_CACHE_SIZE:
                self._outcomes.clear()
            self._outcomes[key] = outcome
        return outcome

    def start_message(self, call: Record) -> str:
        """``{"k":"start","call":{...}}`` for a call still running (botocore's: located from
        its first run now, `Record.locate`)."""
        call.locate()
        key = (call.request_id, call.method, call.origin, call.target, call.library,
               call.thread, call.aws)
        described = self._described.get(key) or self._describe(key)
        if not call.id:
            call.id = next(self._ids)
        return (f'{{"k":"start","call":{{"id":"{self.id_prefix}-{call.id}"'
                f',"startedAtUs":{int(call.wall_offset_us + call.t0 * 1e6)}'
                f',"requestId":{_text(call.request_id)},{described}}}}}')

    def _describe(self, key: tuple[Any, ...]) -> str:
        """Method, location, library, thread and AWS operation, as JSON members; kept for the
        next call with the same `key` (within an invocation: the request id is part of it,
        so a renamed thread shows its new name from the next one on)."""
        _, method, origin, target, library, thread, aws = key
        scheme, host, port, path, url = self._locate(origin, target)
        aws_text = "null"
        if aws is not None:
            service, operation, region, resource = aws
            named = "" if resource is None else f',"resource":{_text(resource)}'
            aws_text = (f'{{"service":{_quote(service)},"operation":{_quote(operation)}'
                        f',"region":{_quote(region)}{named}}}')
        described = (f'"method":{_text(method)}'
                     f',"scheme":{_text(scheme)},"host":{_text(host)},"port":{port}'
                     f',"path":{_text(path)},"url":{_text(url)},"library":{_quote(library)}'
                     f',"thread":{_text(thread.name)},"aws":{aws_text}')
        if len(self._described) >= DESCRIBED_CACHE_SIZE:
            self._described.clear()
        self._described[key] = described
        return described

    def _locate(self, origin: Origin | None, target: str) -> tuple[str, str, int, str, str]:
        """scheme, host, port, path and the redacted URL of a request."""
        key = (origin, target)
        located = self._located.get(key)
        if located is None:
            if len(self._located) >= LOCATE_CACHE_SIZE:
                self._located.clear()
            located = self._located[key] = self._split(origin, target)
        return located

    def _split(self, origin: Origin | None, target: str) -> tuple[str, str, int, str, str]:
        if origin is None:
            scheme, host, port, path = split_url(target)
            url = target
        else:
            scheme, host, port = origin
            # urllib.request hands http.client a URL's user-info as part of the host.
            host = host.rpartition("@")[2] if "@" in host else host
            path = target.partition("?")[0] or "/"
            shown_host = f"[{host}]" if ":" in host else host
            netloc = shown_host if DEFAULT_PORTS.get(scheme) == port else f"{shown_host}:{port}"
            url = f"{scheme}://{netloc}{target}"
        return scheme, host, int(port or 0), path, self.redactor.url(url)

    def _attempt(self, attempt: Attempt) -> str:
        """A ``WireAttempt``."""
        error = attempt.error
        error_text = "null" if error is None else self._error(error)
        return (f'{{"startedAtUs":{int(attempt.started_us)}'
                f',"durationMs":{attempt.duration_ms:.3f}'
                f',"status":{_int(attempt.status)},"error":{error_text}'
                f',"url":{_text(self._locate(attempt.origin, attempt.target)[4])}}}')

    def _error(self, error: Error) -> str:
        """An ``ErrorInfo``."""
        kind, message = error
        return f'{{"type":{_text(kind)},"message":{_quote(self.redactor.text(message))}}}'

    def _captured(self, call: Record) -> str:
        """The opt-in fields (HTTPRECAP_CAPTURE_HEADERS / _BODIES), when present."""
        if (call.request_headers is None and call.response_headers is None
                and call.request_body is None and call.response_body is None):
            return ""
        # WireCall's opt-in members: redacted headers (name -> value) and bodies.
        fields: dict[str, dict[str, str] | str | None] = {}
        if call.request_headers is not None:
            fields["requestHeaders"] = self.redactor.headers(call.request_headers)
        if call.response_headers is not None:
            fields["responseHeaders"] = self.redactor.headers(call.response_headers)
        if call.request_body is not None:
            fields["requestBody"] = self.redactor.body(call.request_body)
        if call.response_body is not None:
            fields["responseBody"] = self.redactor.body(call.response_body)
        if not fields:
            return ""
        text = json.dumps(fields, separators=(",", ":"))
        if "\\ud" in text:  # a surrogate's escape (rarely a character's pair): see _quote
            text = json.dumps(valid_value(fields), separators=(",", ":"))
        return "," + text[1:-1]


def split_url(url: str) -> tuple[str, str, int, str]:
    """scheme, host, port and path of an absolute URL (urlsplit only for unusual ones)."""
    scheme, sep, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not sep or "@" in netloc or "[" in netloc:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        return (parts.scheme, parts.hostname or "",
                port or DEFAULT_PORTS.get(parts.scheme, 0), parts.path or "/")
    host, colon, port_text = netloc.partition(":")
    port = int(port_text) if colon and port_text.isdigit() else DEFAULT_PORTS.get(scheme, 0)
    path = rest[len(netloc):].split("?", 1)[0].split("#", 1)[0] or "/"
    return scheme, host.lower(), port, path


def _quote(value: str) -> str:
    """`value` as a JSON string in ASCII (json's C quoter), valid Unicode: a lone surrogate
    (a file name decoded with `surrogateescape`, say) would cost the extension the batch, so
    it becomes U+FFFD (wire.valid_text). Plain ASCII, the common case, is checked once."""
    return encode_basestring_ascii(value if value.isascii() else valid_text(value))


def _proxy(proxy: tuple[str, int] | str) -> str:
    """The `proxy` member: the forward proxy's host and port, never its user-info (none when
    they cannot be told: the call goes out without it)."""
    try:
        if isinstance(proxy, str):
            _, host, port, _ = split_url(proxy if "://" in proxy else f"http://{proxy}")
        else:
            host, port = proxy
        shown = f"[{host}]" if ":" in host else host
        return f',"proxy":{_text(f"{shown}:{int(port)}")}'
    except Exception as exc:
        diagnostics.swallowed("transport.encode.proxy", exc)
        return ""


def _timeout(raw: object) -> str:
    """The `timeoutS` member: seconds, null when unbounded, none when not known.

    A function passes the same few timeouts again and again (a pool's ``Timeout``, a number),
    so each is resolved once and its member kept by what it is (a ``Timeout`` by identity:
    it has no value equality), with the socket's default it was resolved under: a wait left
    to that default reads it as it is now."""
    if raw is None:  # (requests' default: no timeout at all)
        return UNBOUNDED
    if raw is NOT_KNOWN:
        return ""
    try:
        member, socket_default = _timeout_members[raw]
        if socket_default == _socket_default[0]():
            return member
    except (KeyError, TypeError):  # not seen yet; or unhashable (a list, httpx's Timeout)
        pass
    return _resolve_timeout(raw)


def _resolve_timeout(raw: object) -> str:
    import socket  # (loaded by then: every client that gives a timeout uses it)

    _socket_default[0] = socket.getdefaulttimeout
    socket_default = socket.getdefaulttimeout()
    resolved = timeouts.seconds(raw)
    if resolved is None:
        member = UNBOUNDED
    elif resolved.__class__ is float:
        member = f',"timeoutS":{resolved:.3f}'
    else:  # NOT_KNOWN
        member = ""
    if timeouts.keepable(raw):
        if len(_timeout_members) >= MAX_TIMEOUTS:
            _timeout_members.clear()
        try:
            _timeout_members[raw] = member, socket_default
        except TypeError:  # unhashable
            pass
    return member


UNBOUNDED = ',"timeoutS":null'
MAX_TIMEOUTS = 64  # timeouts whose member is kept (all are forgotten beyond)
_timeout_members: dict[object, tuple[str, float | None]] = {}
_socket_default: list[Callable[[], float | None]] = [lambda: None]  # socket.getdefaulttimeout


def _opened(call: Record) -> str:
    """The `connection` member of a call that opened a new one: with `connectMs`, and `tlsMs`
    when it was secure."""
    tls = "" if call.tls_ms is None else f',"tlsMs":{call.tls_ms:.3f}'
    return f',"connection":"new","connectMs":{call.connect_ms:.3f}{tls}'


REUSED = ',"connection":"reused"'


def _text(value: str) -> str:
    """A JSON string within the wire contract's bound (wire.MAX_STRING)."""
    return _quote(value if len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS])


def _int(value: int | None) -> str:
    return "null" if value is None else str(int(value))
