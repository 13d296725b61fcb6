"""Capture: turns a finished `Call` into its wire form, redacted (function process, sender thread).

This is where the hot path's raw strings become a record of ``httprecap.wire.CALL_FIELDS``:
URLs are split and redacted, errors shortened and redacted, headers masked, bodies cut. It
runs on the background sender thread, so the user's call never pays for it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from httprecap.internal.capture.call import Attempt, Call, Origin
from httprecap.redact import MAX_FIELD_CHARS, Redactor

DEFAULT_PORTS = {"http": 80, "https": 443}


class RecordBuilder:
    """Builds `call` and `start` payloads; one per process (the pid is part of call ids)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.id_prefix = f"{os.getpid():x}"

    def call(self, call: Call) -> dict[str, Any]:
        record = self.start(call)
        record.update(
            durationMs=round(call.duration_ms or 0.0, 3),
            status=call.status,
            error=self._error(call.error),
            bytesSent=call.bytes_sent,
            bytesReceived=call.bytes_received,
            # One attempt is the call itself: listed only when there were several.
            attempts=[self._attempt(a) for a in call.attempts]
            if call.attempts and len(call.attempts) > 1 else [],
        )
        self._add_captured(record, call)
        return record

    def start(self, call: Call) -> dict[str, Any]:
        """The fields known when the call began (the `start` notice's payload)."""
        scheme, host, port, path, url = self._locate(call.origin, call.target)
        record: dict[str, Any] = {
            "id": f"{self.id_prefix}-{call.id}",
            "requestId": call.request_id,
            "startedAtUs": call.started_us,
            "method": _short(call.method),
            "scheme": scheme,
            "host": host,
            "port": port,
            "path": path,
            "url": url,
            "library": call.library,
            "thread": _short(call.thread),
            "aws": None,
        }
        if call.aws is not None:
            service, operation, region = call.aws
            record["aws"] = {"service": service, "operation": operation, "region": region}
        return record

    def _locate(self, origin: Origin | None, target: str) -> tuple[str, str, int, str, str]:
        """scheme, host, port, path and the redacted URL of a request."""
        if origin is None:
            parts = urlsplit(target)
            scheme, host = parts.scheme, parts.hostname or ""
            try:
                port = parts.port or DEFAULT_PORTS.get(scheme, 0)
            except ValueError:
                port = 0
            path = parts.path or "/"
            url = target
        else:
            scheme, host, port = origin
            path = target.partition("?")[0] or "/"
            shown_host = f"[{host}]" if ":" in host else host
            netloc = shown_host if DEFAULT_PORTS.get(scheme) == port else f"{shown_host}:{port}"
            url = f"{scheme}://{netloc}{target}"
        return scheme, _short(host), int(port), _short(path), self.redactor.url(url)

    def _attempt(self, attempt: Attempt) -> dict[str, Any]:
        started_us, duration_ms, status, error, origin, target, _size = attempt
        return {
            "startedAtUs": started_us,
            "durationMs": round(duration_ms, 3),
            "status": status,
            "error": self._error(error),
            "url": self._locate(origin, target)[4],
        }

    def _error(self, error: tuple[str, str] | None) -> dict[str, str] | None:
        if error is None:
            return None
        kind, message = error
        return {"type": _short(kind), "message": self.redactor.text(message)}

    def _add_captured(self, record: dict[str, Any], call: Call) -> None:
        if call.request_headers is not None:
            record["requestHeaders"] = self.redactor.headers(call.request_headers)
        if call.response_headers is not None:
            record["responseHeaders"] = self.redactor.headers(call.response_headers)
        if call.request_body is not None:
            record["requestBody"] = self.redactor.body(call.request_body)
        if call.response_body is not None:
            record["responseBody"] = self.redactor.body(call.response_body)


def _short(value: str) -> str:
    """Every string must fit the wire contract (wire.MAX_STRING)."""
    return value if len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS]

