"""Control plane: the Lambda Extensions API client (extension process).

register -> next_event (long poll, INVOKE or SHUTDOWN) -> ... ; init_error / exit_error report
fatal problems. Names and headers are spelled as AWS spells them (API version 2020-01-01).
"""

from __future__ import annotations

import json

from httprecap.external.http11 import Connection

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.http11 import Response

API_VERSION = "2020-01-01"
EVENTS = ("INVOKE", "SHUTDOWN")


class LambdaApiError(Exception):
    """The Lambda API refused a call or could not be reached."""


class Registration:
    """What /extension/register told us about the function."""

    __slots__ = ("extension_id", "function_name", "function_version", "handler")

    def __init__(self, extension_id: str, function_name: str, function_version: str,
                 handler: str) -> None:
        self.extension_id = extension_id
        self.function_name = function_name
        self.function_version = function_version
        self.handler = handler


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LambdaApiError(f"AWS_LAMBDA_RUNTIME_API={address!r} is not host:port")
    return host, int(port)


def _refusal(what: str, response: Response) -> LambdaApiError:
    try:
        detail = json.loads(response.body)
        reason = f"{detail.get('errorType')}: {detail.get('errorMessage')}"
    except (ValueError, AttributeError):
        reason = response.body[:200].decode("utf-8", "replace")
    return LambdaApiError(f"{what} answered {response.status} ({reason})")


class ExtensionsClient:
    """Talks to `http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension/...` over one connection.

    Used from the run loop's thread only.
    """

    def __init__(self, runtime_api: str, name: str) -> None:
        host, port = _split_address(runtime_api)
        self.name = name
        self.extension_id = ""
        self._connection = Connection(host, port)

    def call(self, method: str, path: str, payload: Any = None,
             headers: dict[str, str] | None = None, timeout: float | None = None) -> Response:
        """One request carrying our identifier; transport failures become LambdaApiError."""
        sent = {"Lambda-Extension-Identifier": self.extension_id, **(headers or {})}
        body = b"" if payload is None else json.dumps(payload).encode()
        if payload is not None:
            sent["Content-Type"] = "application/json"
        try:
            return self._connection.request(method, path, body, sent, timeout)
        except (OSError, ValueError) as exc:
            raise LambdaApiError(f"{method} {path} failed: {exc}") from exc

    def register(self, events: tuple[str, ...] = EVENTS) -> Registration:
        response = self.call("POST", f"/{API_VERSION}/extension/register", {"events": list(events)},
                             {"Lambda-Extension-Name": self.name}, timeout=10.0)
        if response.status != 200:
            raise _refusal("register", response)
        self.extension_id = response.headers.get("lambda-extension-identifier", "")
        if not self.extension_id:
            raise LambdaApiError("register answered without Lambda-Extension-Identifier")
        body = _json_object(response.body)
        return Registration(self.extension_id, str(body.get("functionName", "")),
                            str(body.get("functionVersion", "")), str(body.get("handler", "")))

    def next_event(self) -> dict[str, Any]:
        """Block until Lambda sends the next INVOKE or SHUTDOWN (no client timeout: by design)."""
        response = self.call("GET", f"/{API_VERSION}/extension/event/next")
        if response.status != 200:
            raise _refusal("event/next", response)
        event = _json_object(response.body)
        if event.get("eventType") not in EVENTS:
            raise LambdaApiError(f"event/next sent an unknown event {event.get('eventType')!r}")
        return event

    def init_error(self, error_type: str, message: str) -> None:
        self._report("init", error_type, message)

    def exit_error(self, error_type: str, message: str) -> None:
        self._report("exit", error_type, message)

    def _report(self, stage: str, error_type: str, message: str) -> None:
        payload = {"errorMessage": message, "errorType": error_type}
        response = self.call("POST", f"/{API_VERSION}/extension/{stage}/error", payload,
                             {"Lambda-Extension-Function-Error-Type": error_type}, timeout=2.0)
        if response.status != 202:
            raise _refusal(f"{stage}/error", response)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise LambdaApiError(f"expected JSON, got {body[:100]!r}") from None
    if not isinstance(value, dict):
        raise LambdaApiError(f"expected a JSON object, got {body[:100]!r}")
    return value
