"""Ship: the `otlp+http://HOST:PORT` sink, OTLP/HTTP traces in JSON (extension process).

Each recap becomes one trace: a SERVER span for the invocation and a CLIENT span per call with
OpenTelemetry's HTTP semantic conventions (http.request.method, url.full, server.address,
server.port, http.response.status_code, error.type). The trace id comes from the invocation's
X-Ray header when there is one (`Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700` -> the 32 hex
digits), so the spans line up with X-Ray's view of the same request; otherwise it is random.
The recap's findings (docs/FINDINGS.md) are events on the invocation's span, named by their
kind, at its end, with the finding's fields as `httprecap.finding.*` attributes.
Ids are hex strings and 64-bit integers decimal strings, as OTLP/JSON requires.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from httprecap import __version__
from httprecap.external.http11 import Connection
from httprecap.external.ship.emf import epoch_ms
from httprecap.external.ship.sink_base import Sink, SinkError, compact_json

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.ship.sink_base import Entry
    from httprecap.recap_schema import Recap, RecapCall
    from httprecap.wire import AwsInfo

SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2
TIMEOUT = 5.0
_XRAY_ROOT = re.compile(r"Root=1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")
_XRAY_PARENT = re.compile(r"Parent=([0-9a-fA-F]{16})")


def trace_id_of(trace_header: str | None) -> str:
    match = _XRAY_ROOT.search(trace_header or "")
    if match:
        return (match.group(1) + match.group(2)).lower()
    return os.urandom(16).hex()


def _parent_of(trace_header: str | None) -> str | None:
    match = _XRAY_PARENT.search(trace_header or "")
    return match.group(1).lower() if match else None


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(pairs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in pairs.items()
            if value is not None]


def _start_ns(iso: str) -> int:
    """Nanoseconds of an ISO-8601 µs timestamp (epoch_ms keeps only ms, so add the rest)."""
    micros = int(iso[23:26]) if iso[23:26].isdigit() else 0
    return (epoch_ms(iso) * 1000 + micros) * 1000


def _span(trace_id: str, name: str, kind: int, *, start_ns: int, duration_ms: float,
          attributes: dict[str, Any], parent: str | None, failed: str | None) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id, "spanId": os.urandom(8).hex(), "name": name, "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + round(duration_ms * 1_000_000)),
        "attributes": _attributes(attributes),
    }
    if parent:
        span["parentSpanId"] = parent
    if failed:
        span["status"] = {"code": STATUS_ERROR, "message": failed}
    return span


def _error_type(call: RecapCall) -> str | None:
    error = call.get("error")
    if isinstance(error, dict) and error.get("type"):
        return str(error["type"])
    status = call.get("status")
    return str(status) if isinstance(status, int) and status >= 400 else None


def client_span(call: RecapCall, trace_id: str, parent: str) -> dict[str, Any]:
    aws: AwsInfo | dict[str, str] = call.get("aws") or {}
    attributes = {
        "http.request.method": call.get("method"), "url.full": call.get("url"),
        "server.address": call.get("host"), "server.port": call.get("port"),
        "http.response.status_code": call.get("status"), "error.type": _error_type(call),
        "rpc.system": "aws-api" if aws else None, "rpc.service": aws.get("service"),
        "rpc.method": aws.get("operation"), "cloud.region": aws.get("region"),
        "httprecap.library": call.get("library"), "thread.name": call.get("thread"),
        "httprecap.in_flight": True if call.get("inFlight") else None,
    }
    return _span(trace_id, str(call.get("method") or "HTTP"), SPAN_KIND_CLIENT,
                 start_ns=_start_ns(str(call["startedAt"])),
                 duration_ms=float(call.get("durationMs") or 0.0), attributes=attributes,
                 parent=parent, failed=_error_type(call))


def finding_event(finding: dict[str, Any], time_ns: str) -> dict[str, Any]:
    """A finding as a span event: `kind` its name, every field an attribute."""
    attributes = {f"httprecap.finding.{_snake(key)}": value for key, value in finding.items()}
    return {"timeUnixNano": time_ns, "name": str(finding.get("kind") or "finding"),
            "attributes": _attributes(attributes)}


def _snake(name: str) -> str:
    """`callIds` -> `call_ids`: OpenTelemetry's attribute names are snake_case."""
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def recap_spans(recap: EncodedRecap | Recap) -> list[dict[str, Any]]:
    """The invocation's SERVER span, then one CLIENT span per call, all in one trace."""
    trace_id = trace_id_of(recap.get("traceId"))
    name = str(recap.get("functionName") or "lambda")
    if recap.get("phase") == "init":
        name += " init"
    status = recap.get("status")
    attributes = {"faas.invocation_id": recap.get("requestId"),
                  "httprecap.phase": recap.get("phase"), "httprecap.status": status}
    server = _span(trace_id, name, SPAN_KIND_SERVER, start_ns=_start_ns(str(recap["startedAt"])),
                   duration_ms=float(recap.get("durationMs") or 0.0), attributes=attributes,
                   parent=_parent_of(recap.get("traceId")),
                   failed=None if status in ("success", None) else str(status))
    findings = recap.get("findings")
    if isinstance(findings, list) and findings:
        server["events"] = [finding_event(item, server["endTimeUnixNano"]) for item in findings
                            if isinstance(item, dict)]
    return [server, *(client_span(call, trace_id, server["spanId"])
                      for call in recap.get("calls") or [])]


def export_request(recaps: list[EncodedRecap] | list[Recap],
                   region: str | None) -> dict[str, Any]:
    """An ExportTraceServiceRequest (JSON mapping), one resource per function."""
    first: EncodedRecap | Recap | dict[str, str] = recaps[0] if recaps else {}
    resource = _attributes({
        "service.name": first.get("functionName") or "lambda",
        "faas.name": first.get("functionName"), "faas.version": first.get("functionVersion"),
        "cloud.provider": "aws", "cloud.platform": "aws_lambda", "cloud.region": region})
    spans = [span for recap in recaps for span in recap_spans(recap)]
    return {"resourceSpans": [{
        "resource": {"attributes": resource},
        "scopeSpans": [{"scope": {"name": "httprecap", "version": __version__},
                        "spans": spans}]}]}


class OtlpSink(Sink):
    max_batch = 50

    def __init__(self, spec: str, region: str | None = None, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(spec.replace("otlp+http://", "http://", 1))
        if not parts.hostname or not parts.port:
            raise ValueError("expected otlp+http://HOST:PORT")
        # Logs name the sink by its URL without user-info or query: either may hold a key.
        self.name = f"otlp+http://{parts.netloc.rpartition('@')[2]}{parts.path}"
        self._path = parts.path if parts.path not in ("", "/") else "/v1/traces"
        self._region = region
        self._timeout = timeout
        self._connection = Connection(parts.hostname, parts.port)

    def send(self, entries: list[Entry]) -> list[Entry]:
        body = compact_json(export_request([entry.recap for entry in entries],
                                           self._region)).encode()
        headers = {"Content-Type": "application/json"}
        try:
            response = self._connection.request("POST", self._path, body, headers,
                                                self._timeout)
        except (OSError, ValueError) as exc:
            raise SinkError(f"{self.name} failed: {exc}") from exc
        if not 200 <= response.status < 300:
            raise SinkError(f"{self.name} answered {response.status}")
        return []
