"""Runtime API 2018-06-01: what awslambdaric talks to (dev-time sandbox process).

`/next` hands the runtime its invocation (and, the first time, ends the extensions'
registration window); `/response` and `/error` deliver the result to the waiting caller;
`/init/error` fails the init. Status codes and error types are RAPID's (docs/PROTOCOL.md, 5).

In Lambda Managed Instances mode (docs/PROTOCOL.md, 7) the runtime's workers poll `/next`
concurrently: each takes the oldest queued invocation, and `/response`/`/error` find theirs by
request id among those under way. There is no per-worker state to check: RAPID cannot tell
which worker is calling.
"""

from __future__ import annotations

import json
import re
import time

from httprecap.sandbox.api.server import (
    ACCEPTED,
    Reply,
    Request,
    Route,
    error_reply,
    json_reply,
    route,
)
from httprecap.sandbox.config import MAX_PAYLOAD_BYTES
from httprecap.sandbox.state import Failure, Instance, Invocation, Platform

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def normalise_error_type(value: str | None) -> str:
    """RAPID keeps a runtime's error type only when it looks like `Runtime.Xxx`/`Function.Xxx`."""
    if value and _ERROR_TYPE.fullmatch(value):
        return value
    if value and value.startswith("Function."):
        return "Function.Unknown"
    return "Runtime.Unknown"


def _invalid_state(detail: str) -> Reply:
    return error_reply(403, "InvalidStateTransition", f"State transition is not allowed: {detail}")


def _closed() -> Reply:
    return error_reply(500, "Sandbox.Shutdown", "the environment is shutting down")


def next_invocation(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    if platform.config.managed_instances:
        return _next_concurrent(platform)
    with platform.cond:
        instance = platform.instance
        if instance is None or instance.closed:
            return _closed()
        reply = _runtime_ready(platform, instance)
        if reply is not None:
            return reply
        platform.cond.wait_for(lambda: instance.runtime.pending is not None or instance.closed)
        invocation = instance.runtime.pending
        if invocation is None:
            return _closed()
        _hand_over(platform, instance, invocation)
    return Reply(200, invocation.body, _invoke_headers(platform, invocation))


def _runtime_ready(platform: Platform, instance: Instance) -> Reply | None:
    """The runtime says it is ready: after init, or after finishing an invocation."""
    slot = instance.runtime
    now = platform.now()
    if slot.state == "starting":
        slot.first_next_at = now
        instance.registration_open = False
    elif slot.state == "replied" and slot.current is not None:
        slot.current.runtime_next_at = now
        slot.current.runtime_next_epoch = time.time()
    else:
        return _invalid_state(f"{slot.state} -> next")
    slot.state = "idle"
    platform.cond.notify_all()
    return None


def _next_concurrent(platform: Platform) -> Reply:
    """LMI: any worker may ask at any time; the first /next ends the runtime's init."""
    with platform.cond:
        instance = platform.instance
        if instance is None or instance.closed:
            return _closed()
        slot = instance.runtime
        if slot.state == "starting":
            slot.first_next_at = platform.now()
            slot.state = "idle"
            instance.registration_open = False
            platform.cond.notify_all()
        platform.cond.wait_for(lambda: bool(slot.queue) or instance.closed)
        if not slot.queue:
            return _closed()
        invocation = slot.queue.popleft()
        slot.active[invocation.request_id] = invocation
        invocation.handed_at = platform.now()
        invocation.handed_epoch = time.time()
    return Reply(200, invocation.body, _invoke_headers(platform, invocation))


def _hand_over(platform: Platform, instance: Instance, invocation: Invocation) -> None:
    slot = instance.runtime
    slot.pending = None
    slot.current = invocation
    slot.state = "busy"
    invocation.handed_at = platform.now()
    invocation.handed_epoch = time.time()


def _invoke_headers(platform: Platform, invocation: Invocation) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": platform.config.function_arn,
    }
    if invocation.trace_id:
        headers["Lambda-Runtime-Trace-Id"] = invocation.trace_id
    if platform.config.tenant_id is not None:  # a function in tenant-isolation mode
        headers["Lambda-Runtime-Aws-Tenant-Id"] = platform.config.tenant_id
    return headers


def _current(platform: Platform, request_id: str) -> Invocation | Reply:
    """The invocation a /response or /error names, or the error reply RAPID gives."""
    instance = platform.instance
    if instance is None or instance.closed:
        return _closed()
    slot = instance.runtime
    if platform.config.managed_instances:
        return _active(slot.active.get(request_id))
    if slot.current is None or slot.current.request_id != request_id:
        return error_reply(400, "InvalidRequestID", "Invalid request ID")
    if slot.state != "busy":
        return _invalid_state(f"{slot.state} -> response")
    return slot.current


def _active(invocation: Invocation | None) -> Invocation | Reply:
    """LMI: the invocation under way with that id; a second result for it is refused."""
    if invocation is None:
        return error_reply(400, "InvalidRequestID", "Invalid request ID")
    if invocation.response_started is not None:
        return _invalid_state("response sent -> response")
    return invocation


def _still_current(instance: Instance | None, invocation: Invocation) -> bool:
    if instance is None:
        return False
    if instance.runtime.current is invocation:
        return True
    return instance.runtime.active.get(invocation.request_id) is invocation


def invocation_response(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    return _receive_result(platform, request, match["id"], is_error=False)


def invocation_error(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    return _receive_result(platform, request, match["id"], is_error=True)


def _receive_result(platform: Platform, request: Request, request_id: str,
                    is_error: bool) -> Reply:
    with platform.cond:
        found = _current(platform, request_id)
        if isinstance(found, Reply):
            return found
        found.response_started = platform.now()
        found.response_started_epoch = time.time()
    body = request.read_body()
    with platform.cond:
        instance = platform.instance
        if instance is None or not _still_current(instance, found):
            return _closed()
        reply = _store_result(found, request, body, is_error)
        found.responded_at = platform.now()
        found.responded_epoch = time.time()
        if not platform.config.managed_instances:
            instance.runtime.state = "replied"
        platform.cond.notify_all()
    return reply


def _store_result(invocation: Invocation, request: Request, body: bytes,
                  is_error: bool) -> Reply:
    if len(body) > MAX_PAYLOAD_BYTES:
        invocation.response = json.dumps({
            "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum "
                            f"allowed payload size ({MAX_PAYLOAD_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge"}).encode()
        invocation.function_error = "Unhandled"
        invocation.error_type = "Function.ResponseSizeTooLarge"
        return error_reply(413, "RequestEntityTooLarge",
                           f"Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).")
    invocation.response = body
    invocation.content_type = request.header("Content-Type") or "application/json"
    if is_error:
        invocation.function_error = "Unhandled"
        invocation.error_type = normalise_error_type(request.header(ERROR_TYPE_HEADER))
    return json_reply(202, ACCEPTED)


def init_error(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    body = request.read_body()
    with platform.cond:
        instance = platform.instance
        if instance is None or instance.closed:
            return _closed()
        if instance.runtime.state != "starting":
            return _invalid_state(f"{instance.runtime.state} -> init error")
        if platform.config.managed_instances and instance.failure is not None:
            # Every LMI worker runs its own init; the first report is the environment's.
            return _invalid_state("init error -> init error")
        error_type = normalise_error_type(request.header(ERROR_TYPE_HEADER))
        instance.fail(Failure(error_type, _message_of(body), payload=body))
        platform.cond.notify_all()
    return json_reply(202, ACCEPTED)


def _message_of(body: bytes) -> str:
    try:
        return str(json.loads(body).get("errorMessage", ""))
    except (ValueError, AttributeError):
        return body.decode("utf-8", errors="replace")


ROUTES: list[Route] = [
    route("GET", PREFIX + "/invocation/next", next_invocation),
    route("POST", PREFIX + r"/invocation/(?P<id>[^/]+)/response", invocation_response),
    route("POST", PREFIX + r"/invocation/(?P<id>[^/]+)/error", invocation_error),
    route("POST", PREFIX + "/init/error", init_error),
]
