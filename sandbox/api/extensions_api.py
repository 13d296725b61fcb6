"""Extensions API 2020-01-01: register, event/next, init/error, exit/error
(dev-time sandbox process).

An extension is *external* when its `Lambda-Extension-Name` is the file name of an executable
the sandbox launched from /opt/extensions, *internal* otherwise (Lambda's rule:
docs/PROTOCOL.md, 2.1). Every failure is a 403 with RAPID's error type. Which events each kind
may take depends on the mode (docs/PROTOCOL.md, 2.2): classic externals INVOKE and SHUTDOWN,
internals INVOKE; on Lambda Managed Instances externals SHUTDOWN only, internals nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from httprecap.sandbox.api.server import (
    ACCEPTED,
    Reply,
    Request,
    Route,
    error_reply,
    json_reply,
    route,
)
from httprecap.sandbox.config import ACCOUNT_ID, FUNCTION_VERSION, MAX_AGENTS
from httprecap.sandbox.state import Agent, Failure, Instance, Platform

PREFIX = "/2020-01-01/extension"
NAME_HEADER = "Lambda-Extension-Name"
ID_HEADER = "Lambda-Extension-Identifier"
FEATURE_HEADER = "Lambda-Extension-Accept-Feature"
ERROR_TYPE_HEADER = "Lambda-Extension-Function-Error-Type"
EVENT_TYPES = ("INVOKE", "SHUTDOWN")


def _forbidden(error_type: str, message: str) -> Reply:
    return error_reply(403, error_type, message)


def register(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    name = request.header(NAME_HEADER) or ""
    body = request.read_body()
    if not name:
        return _forbidden("Extension.InvalidExtensionName", "Empty extension name")
    events = _requested_events(body)
    if isinstance(events, Reply):
        return events
    with platform.cond:
        instance = platform.instance
        if instance is None or not instance.registration_open:
            return _forbidden("Extension.RegistrationClosed",
                              "Extension registration closed already")
        agent = _new_agent(instance, name, events, platform.config.managed_instances)
        if isinstance(agent, Reply):
            return agent
        instance.agents[agent.identifier] = agent
        platform.cond.notify_all()
    return json_reply(200, _register_body(platform, request),
                      {"Lambda-Extension-Identifier": agent.identifier})


def _requested_events(body: bytes) -> tuple[str, ...] | Reply:
    try:
        payload: Any = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        return _forbidden("InvalidRequestFormat", f"Invalid request body: {exc}")
    if not isinstance(payload, dict):
        return _forbidden("InvalidRequestFormat", "Invalid request body: not an object")
    if payload.get("configurationKeys"):
        return _forbidden("InvalidRequestFormat",
                          "configurationKeys are deprecated and no longer supported")
    events = payload.get("events") or []
    if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
        return _forbidden("InvalidRequestFormat", "Invalid request body: events")
    for event in events:
        if event not in EVENT_TYPES:
            return _forbidden("Extension.InvalidEventType", f"{event}: ErrorInvalidEventType")
    return tuple(events)


def _new_agent(instance: Instance, name: str, events: tuple[str, ...],
               managed: bool) -> Agent | Reply:
    external = name in instance.launched
    if instance.agent_named(name) is not None:
        return _forbidden("Extension.InvalidExtensionState",
                          f"Extension {name} is already registered")
    if len(instance.agents) >= MAX_AGENTS:
        return _forbidden("Extension.TooManyExtensions",
                          f"Too many extensions registered (limit {MAX_AGENTS})")
    refusal = (_managed_refusal if managed else _classic_refusal)(external, events)
    if refusal is not None:
        return refusal
    return Agent(name=name, external=external, events=events)


def _classic_refusal(external: bool, events: tuple[str, ...]) -> Reply | None:
    if not external and "SHUTDOWN" in events:
        return _forbidden("Extension.InvalidEventType",
                          "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension")
    return None


def _managed_refusal(external: bool, events: tuple[str, ...]) -> Reply | None:
    """LMI has no per-invoke events: externals may take SHUTDOWN, internals nothing."""
    if not external and events:
        return _forbidden("Extension.InvalidEventType",
                          "No events allowed for internal extensions")
    if "INVOKE" in events:
        return _forbidden("Extension.InvalidEventType", "INVOKE: ErrorInvalidEventType")
    return None


def _register_body(platform: Platform, request: Request) -> dict[str, str]:
    features = {part.strip() for part in (request.header(FEATURE_HEADER) or "").split(",")}
    body = {"accountId": ACCOUNT_ID} if "accountId" in features else {}
    body.update({"functionName": platform.config.function_name,
                 "functionVersion": FUNCTION_VERSION, "handler": platform.config.handler})
    return body


def find_agent(platform: Platform, request: Request) -> Agent | Reply:
    """The agent named by Lambda-Extension-Identifier, or RAPID's 403 (call under the lock)."""
    identifier = request.header(ID_HEADER)
    if not identifier:
        return _forbidden("Extension.MissingExtensionIdentifier",
                          "Missing Lambda-Extension-Identifier header")
    instance = platform.instance
    agent = None if instance is None else instance.agents.get(identifier)
    if agent is not None:
        return agent  # (its identifier is a UUID: this sandbox made it)
    try:
        uuid.UUID(identifier)
    except ValueError:
        return _forbidden("Extension.InvalidExtensionIdentifier",
                          "Invalid Lambda-Extension-Identifier")
    return _forbidden("Extension.UnknownExtensionIdentifier", "Unknown extension " + identifier)


def next_event(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    with platform.cond:
        agent = find_agent(platform, request)
        if isinstance(agent, Reply):
            return agent
        instance = platform.instance
        assert instance is not None
        if agent.errored or agent.waiting:
            return _forbidden("Extension.InvalidExtensionState",
                              f"Extension {agent.name} cannot call next now")
        agent.waiting = agent.called_next = True
        agent.next_at = platform.now()
        platform.cond.notify_all()
        platform.cond.wait_for(lambda: bool(agent.pending) or instance.closed)
        agent.waiting = False
        if not agent.pending:
            return error_reply(500, "Sandbox.Shutdown", "the environment is shutting down")
        body = agent.pending.popleft()
    return Reply(200, body, {"Content-Type": "application/json",
                             "Lambda-Extension-Event-Identifier": str(uuid.uuid4())})


def init_error(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    return _report_error(platform, request, "Extension.InitError")


def exit_error(platform: Platform, request: Request, match: re.Match[str]) -> Reply:
    return _report_error(platform, request, "Extension.ExitError")


def _report_error(platform: Platform, request: Request, fatal_type: str) -> Reply:
    request.read_body()
    with platform.cond:
        agent = find_agent(platform, request)
        if isinstance(agent, Reply):
            return agent
        reported = request.header(ERROR_TYPE_HEADER)
        if not reported:
            return _forbidden("Extension.MissingHeader",
                              f"Missing {ERROR_TYPE_HEADER} header")
        if agent.errored:
            return _forbidden("Extension.InvalidExtensionState",
                              f"Extension {agent.name} already reported an error")
        agent.errored = True
        assert platform.instance is not None
        platform.instance.fail(Failure(fatal_type, f"Extension {agent.name}: {reported}"))
        platform.cond.notify_all()
    return json_reply(202, ACCEPTED)


ROUTES: list[Route] = [
    route("POST", PREFIX + "/register", register),
    route("GET", PREFIX + "/event/next", next_event),
    route("POST", PREFIX + "/init/error", init_error),
    route("POST", PREFIX + "/exit/error", exit_error),
]
