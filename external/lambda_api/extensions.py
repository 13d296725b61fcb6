"""Control plane: the Lambda Extensions API client (extension process).

register -> next_event (long poll, INVOKE or SHUTDOWN) -> ... ; init_error / exit_error report
fatal problems. Names and headers are spelled as AWS spells them (API version 2020-01-01).

Start-up budget: `json` (with the `re` it imports) is not loaded before the first
`/event/next`. The register request is a fixed template, its response is parsed when first
read, and `while_waiting` runs once the first `/event/next` is on the wire: the time Lambda
spends on the runtime's init is when the extension loads what invocations need.
"""

from __future__ import annotations

from httprecap.external import log
from httprecap.external.http11 import Connection

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from httprecap.external.http11 import Response

API_VERSION = "2020-01-01"
EVENTS = ("INVOKE", "SHUTDOWN")


class LambdaApiError(Exception):
    """The Lambda API refused a call or could not be reached.

    LambdaApiError                 unreachable, or an answer we cannot use
     +-- ApiRefusal                an error status, with the API's `errorType` when it sent one
          +-- InvalidEventType     `Extension.InvalidEventType`: an event this platform does
                                   not send to extensions (INVOKE, on Lambda Managed Instances)
    """


class ApiRefusal(LambdaApiError):
    """The API answered a call with an error status."""

    def __init__(self, message: str, status: int, error_type: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class InvalidEventType(ApiRefusal):
    """Registration named an event this platform does not send to extensions."""


REFUSALS: dict[str, type[ApiRefusal]] = {"Extension.InvalidEventType": InvalidEventType}


class Registration:
    """What /extension/register told us about the function (its body read when first asked)."""

    __slots__ = ("_body", "_fields", "extension_id")

    def __init__(self, extension_id: str, body: bytes) -> None:
        self.extension_id = extension_id
        self._body = body
        self._fields: dict[str, Any] | None = None

    def _field(self, name: str) -> str:
        if self._fields is None:
            self._fields = _json_object(self._body)
        return str(self._fields.get(name, ""))

    @property
    def function_name(self) -> str:
        return self._field("functionName")

    @property
    def function_version(self) -> str:
        return self._field("functionVersion")

    @property
    def handler(self) -> str:
        return self._field("handler")


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LambdaApiError(f"AWS_LAMBDA_RUNTIME_API={address!r} is not host:port")
    return host, int(port)


def _refusal(what: str, response: Response) -> ApiRefusal:
    """The refusal's exception, typed by the `errorType` of its JSON body."""
    import json

    error_type = None
    try:
        detail = json.loads(response.body)
        error_type = detail.get("errorType")
        reason = f"{error_type}: {detail.get('errorMessage')}"
    except (ValueError, AttributeError):
        reason = response.body[:200].decode("utf-8", "replace")
    kind = REFUSALS.get(error_type, ApiRefusal) if isinstance(error_type, str) else ApiRefusal
    return kind(f"{what} answered {response.status} ({reason})", response.status, error_type)


class ExtensionsClient:
    """Talks to `http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension/...` over one connection.

    Used from the run loop's thread only.
    """

    def __init__(self, runtime_api: str, name: str) -> None:
        host, port = _split_address(runtime_api)
        self.name = name
        self.extension_id = ""
        self._connection = Connection(host, port)
        # Runs once, right after the first /event/next is sent (see the module docstring).
        self.while_waiting: Callable[[], None] | None = None

    def call(self, method: str, path: str, json_body: str | None = None,
             headers: dict[str, str] | None = None, timeout: float | None = None, *,
             sent: Callable[[], None] | None = None) -> Response:
        """One request carrying our identifier; transport failures become LambdaApiError.

        `sent` runs once the request is on the wire, before its response is read.
        """
        head = {"Lambda-Extension-Identifier": self.extension_id, **(headers or {})}
        if json_body is not None:
            head["Content-Type"] = "application/json"
        body = b"" if json_body is None else json_body.encode()
        try:
            return self._connection.request(method, path, body, head, timeout, sent=sent)
        except (OSError, ValueError) as exc:
            raise LambdaApiError(f"{method} {path} failed: {exc}") from exc

    def register(self, events: tuple[str, ...] = EVENTS) -> Registration:
        if not set(events) <= set(EVENTS):
            raise ValueError(f"unknown events {events!r}")
        names = ",".join(f'"{event}"' for event in events)  # plain identifiers: no escaping
        response = self.call("POST", f"/{API_VERSION}/extension/register",
                             f'{{"events":[{names}]}}', {"Lambda-Extension-Name": self.name},
                             timeout=10.0)
        if response.status != 200:
            raise _refusal("register", response)
        self.extension_id = response.headers.get("lambda-extension-identifier", "")
        if not self.extension_id:
            raise LambdaApiError("register answered without Lambda-Extension-Identifier")
        return Registration(self.extension_id, response.body)

    def next_event(self) -> dict[str, Any]:
        """Block until Lambda sends the next INVOKE or SHUTDOWN (no client timeout: by design)."""
        response = self.call("GET", f"/{API_VERSION}/extension/event/next",
                             sent=self._run_while_waiting)
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

    def _run_while_waiting(self) -> None:
        hook, self.while_waiting = self.while_waiting, None
        if hook is None:
            return
        try:
            hook()
        except Exception as exc:  # a failed warm-up costs time later, never the extension
            log.warning(f"warm-up after the first event/next failed: {exc}")

    def _report(self, stage: str, error_type: str, message: str) -> None:
        import json

        payload = json.dumps({"errorMessage": message, "errorType": error_type})
        response = self.call("POST", f"/{API_VERSION}/extension/{stage}/error", payload,
                             {"Lambda-Extension-Function-Error-Type": error_type}, timeout=2.0)
        if response.status != 202:
            raise _refusal(f"{stage}/error", response)


def _json_object(body: bytes) -> dict[str, Any]:
    import json

    try:
        value = json.loads(body)
    except ValueError:
        raise LambdaApiError(f"expected JSON, got {body[:100]!r}") from None
    if not isinstance(value, dict):
        raise LambdaApiError(f"expected a JSON object, got {body[:100]!r}")
    return value
