"""A wire CALL as the function process sends it (tests of the extension, the fleet queries)."""

from __future__ import annotations

from typing import Any

T0 = 1_790_000_000_000_000  # epoch µs of a fixed invocation start


def wire_call(request_id: str, call_id: str, offset_ms: float = 0.0, duration_ms: float = 10.0,
              **fields: Any) -> dict[str, Any]:
    """A wire CALL starting `offset_ms` after T0 (`fields` replace the defaults)."""
    record: dict[str, Any] = {
        "id": call_id, "requestId": request_id, "startedAtUs": T0 + round(offset_ms * 1000),
        "durationMs": duration_ms, "method": "GET", "scheme": "https",
        "host": "api.example.com", "port": 443, "path": "/v1/items",
        "url": "https://api.example.com/v1/items", "status": 200, "error": None,
        "bytesSent": 0, "bytesReceived": 100, "library": "urllib3", "thread": "MainThread",
        "attempts": [], "aws": None,
    }
    record.update(fields)
    return record


def encoded_call(record: Any, encoder: Any = None) -> dict[str, Any]:
    """The wire CALL the sender writes for `record` (a transport `Record`), as the extension
    reads it: the `calls` message parsed and its one row checked (`wire.calls_of`)."""
    import json

    from httprecap import wire
    from httprecap.internal.transport.encode import Encoder
    from httprecap.redact import Redactor

    encoder = encoder if encoder is not None else Encoder(Redactor())
    calls = encoder.calls(record.request_id)
    encoder.add_call(calls, record)
    (call,) = wire.calls_of(json.loads(calls.message()))
    return dict(call)
