"""Capture: wraps botocore's ``BaseClient._make_api_call`` and its credentials' refresh (runs in
the function process).

One record per API call, named by service, operation and region (``s3 GetObject``). Its
method and URL are those of the first wire attempt, which urllib3 records inside it; the
retries botocore makes are the following attempts. What botocore fetches to refresh
credentials inside an API call is no part of it (``RefreshableCredentials._protected_refresh``
runs with the thread's slot empty): STS ``AssumeRole`` for a role, or a request to the
container or instance metadata endpoint, each a call of its own. An API call that never
reached the wire (a parameter validation error, a stubbed client, moto's in-process mock) is
not an HTTP call and leaves no trace: no record, and no `start` notice while it runs (it is
located by its first wire attempt).

Its size is its response's ``Content-Length``; a response of no declared length (chunked) is
sized from what was read of it: by botocore inside the call, or, for a streaming output's
body, by the user afterwards (followed as capture/urllib3_body.py follows urllib3's).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from httprecap.internal import diagnostics, patching
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import urllib3
from httprecap.internal.capture.runs import PoolRuns, wire_done, wire_read

MODULE = "botocore.client"
CREDENTIALS = "botocore.credentials"  # loaded by botocore.client


# The API parameters that name the resource a call works on (a table, bucket, queue, stream,
# topic, function, ...): the findings group calls by it (docs/FINDINGS.md `repeated-call`).
RESOURCE_PARAMETERS = frozenset((
    "TableName", "Bucket", "QueueUrl", "StreamName", "StreamARN", "TopicArn", "FunctionName",
    "DeliveryStreamName", "StateMachineArn", "LogGroupName", "EventBusName"))
MAX_RESOURCE_CHARS = 256


def _describe(call: calls.Call, client: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    if len(args) == 2:  # how botocore calls it: (operation_name, api_params)
        operation, params = args
    else:
        operation = args[0] if args else kwargs.get("operation_name", "")
        params = args[1] if len(args) > 1 else kwargs.get("api_params")
    meta = client.meta
    call.aws = (meta.service_model.service_name, str(operation), meta.region_name or "",
                resource(params) if params.__class__ is dict else None)


def resource(params: dict[str, Any]) -> str | None:
    """The resource named by an API call's parameters, or None. An API call has a handful of
    parameters: walking them costs less than looking up every name. A batch over several
    tables (``RequestItems``) names none; over one table, that one."""
    for name in params:  # noqa: PLC0206 (keys only: one value is read, the matching name's)
        if name in RESOURCE_PARAMETERS:
            value = params[name]
            return value[:MAX_RESOURCE_CHARS] if value.__class__ is str else None
    items = params.get("RequestItems")
    if items.__class__ is dict and len(items) == 1:
        (table,) = items
        return table[:MAX_RESOURCE_CHARS] if table.__class__ is str else None
    return None


def _make_api_call(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    call = calls.open_call("botocore", _describe, instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _close(call, exc)
        raise
    try:
        _close(call, None)
        return result
    finally:
        del result  # this frame may outlive the call (see capture/call.py)


def _close(call: calls.Call, exc: BaseException | None) -> None:
    runs = call.runs
    if runs is None:  # it never reached the wire
        calls.discard(call)
    elif runs.unsized is None:
        calls.close(call, exc=exc)
    else:
        _close_unsized(call, runs, exc)


def _close_unsized(call: calls.Call, runs: PoolRuns, exc: BaseException | None) -> None:
    """A call whose only response declared no length (chunked): its size is what botocore
    read of it inside the call, or, for a body the user reads afterwards (a streaming output),
    what the user reads (capture/urllib3_body.py)."""
    response, runs.unsized = runs.unsized, None
    if exc is not None:
        _size_read(call, response)
        calls.close(call, exc=exc)
    else:
        calls.close(call, result=response, outcome=_sized)


def _sized(call: calls.Call, response: Any) -> str | None:
    if _size_read(call, response):
        return None
    return urllib3.follow_body(call, response)


def _size_read(call: calls.Call, response: Any) -> bool:
    """Size `call` from `response` if botocore read its body to its end; False if the body is
    still to come. (A call retried since keeps its last attempt's size: unknown.)"""
    try:
        if call.attempts:
            return True
        if not wire_done(response):
            return False
        call.bytes_received = wire_read(response)
    except Exception as exc:
        diagnostics.swallowed("capture.botocore.size_read", exc)
    return True


def _protected_refresh(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    """Credentials refreshed inside an API call: their requests are not its attempts (botocore
    sends the metadata endpoints' through its own urllib3 pool, which nothing else tells
    apart), so the call steps out of the slot meanwhile. Runs only when a refresh is due."""
    slot = calls.local.slot
    outer = slot.call
    if outer is None:
        return wrapped(*args, **kwargs)
    slot.call = None
    try:
        return wrapped(*args, **kwargs)
    finally:
        slot.call = outer


def patch(module: ModuleType) -> None:
    patching.wrap(module.BaseClient, "_make_api_call", _make_api_call)
    credentials = sys.modules.get(CREDENTIALS)
    refreshable = getattr(credentials, "RefreshableCredentials", None)
    if isinstance(refreshable, type):
        patching.wrap(refreshable, "_protected_refresh", _protected_refresh)
