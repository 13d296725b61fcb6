"""Telemetry API 2022-07-01: `PUT /telemetry` subscriptions (dev-time sandbox process).

Validates the body as Lambda's subscription schema does (docs/PROTOCOL.md, 4.1), maps the
destination host `sandbox.localdomain` (or `sandbox`) to 127.0.0.1, keeping port and path,
and accepts subscriptions only during the extension's own init. With
`FunctionConfig.telemetry_supported=False` it answers like AWS SAM local / the classic RIE.
Lambda Managed Instances accept schema `2025-01-29` only.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from httprecap.sandbox.api.extensions_api import find_agent
from httprecap.sandbox.api.server import Reply, Request, Route, error_reply, json_reply, route
from httprecap.sandbox.state import Platform
from httprecap.sandbox.telemetry_delivery import (
    BUFFERING_BOUNDS,
    DEFAULT_BUFFERING,
    MANAGED_SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    TYPES,
    Subscription,
)

SANDBOX_HOSTS = ("sandbox.localdomain", "sandbox")
RESERVED_PORT = 9001


class ValidationError(ValueError):
    """The message becomes the 400 ValidationError's errorMessage."""


def subscribe(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    body = request.read_body()
    if not platform.config.telemetry_supported:
        return error_reply(202, "Telemetry.NotSupported", "Telemetry API is not supported")
    with platform.cond:
        agent = find_agent(platform, request)
        if isinstance(agent, Reply):
            return agent
        instance = platform.instance
        if instance is None or agent.called_next or not instance.subscriptions_open:
            return error_reply(403, "Telemetry.SubscriptionClosed",
                               "Subscriptions are accepted only during the extension's init")
    try:
        subscription = parse_subscription(agent.name, body, platform.api_address,
                                          platform.config.managed_instances)
    except ValidationError as exc:
        return error_reply(400, "ValidationError", str(exc))
    platform.telemetry.emit("platform.telemetrySubscription", {
        "name": agent.name, "state": "Subscribed", "types": list(subscription.types)})
    platform.telemetry.subscribe(subscription)
    return json_reply(200, "OK")


def parse_subscription(name: str, body: bytes, api_address: str,
                       managed: bool = False) -> Subscription:
    try:
        payload: Any = json.loads(body)
    except ValueError as exc:
        raise ValidationError(f"request body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValidationError("request body must be a JSON object")
    versions = (MANAGED_SCHEMA_VERSION,) if managed else SCHEMA_VERSIONS
    if payload.get("schemaVersion") not in versions:
        raise ValidationError(f"schemaVersion must be one of {', '.join(versions)}")
    types = _types(payload.get("types"))
    buffering = _buffering(payload.get("buffering"))
    host, port, path = _destination(payload.get("destination"), api_address)
    return Subscription(name=name, types=types, max_items=buffering["maxItems"],
                        max_bytes=buffering["maxBytes"], timeout_ms=buffering["timeoutMs"],
                        host=host, port=port, path=path)


def _types(types: Any) -> tuple[str, ...]:
    if not isinstance(types, list) or not types:
        raise ValidationError("types must be a non-empty list")
    if any(kind not in TYPES for kind in types) or len(set(types)) != len(types):
        raise ValidationError(f"types must be distinct values of {', '.join(TYPES)}")
    return tuple(types)


def _buffering(buffering: Any) -> dict[str, int]:
    if buffering is None:
        return dict(DEFAULT_BUFFERING)
    if not isinstance(buffering, dict):
        raise ValidationError("buffering must be an object")
    unknown = set(buffering) - set(BUFFERING_BOUNDS)
    if unknown:
        raise ValidationError(f"buffering has unknown fields: {', '.join(sorted(unknown))}")
    values = dict(DEFAULT_BUFFERING)
    for key, (low, high) in BUFFERING_BOUNDS.items():
        value = buffering.get(key, values[key])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValidationError(f"buffering.{key} must be an integer from {low} to {high}")
        values[key] = value
    return values


def _destination(destination: Any, api_address: str) -> tuple[str, int, str]:
    if not isinstance(destination, dict):
        raise ValidationError("destination must be an object")
    if destination.get("protocol") != "HTTP":
        raise ValidationError("destination.protocol must be HTTP (TCP is not supported here)")
    uri = destination.get("URI")
    if not isinstance(uri, str):
        raise ValidationError("destination.URI must be a string")
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or parts.hostname not in SANDBOX_HOSTS or port is None:
        raise ValidationError("destination.URI must be http://sandbox.localdomain:PORT/PATH")
    if port == RESERVED_PORT or str(port) == api_address.rsplit(":", 1)[-1]:
        raise ValidationError(f"destination port {port} is reserved")
    path = parts.path or "/"
    return "127.0.0.1", port, path + (f"?{parts.query}" if parts.query else "")


ROUTES: list[Route] = [route("PUT", "/2022-07-01/telemetry", subscribe)]
