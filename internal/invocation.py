"""Attribution: which Lambda invocation a call belongs to, and its end (function process).

awslambdaric runs one invocation at a time per process (classic Lambda, and each worker
process of Lambda Managed Instances), so the request id is a process-global value: calls from
plain threads, thread pools and asyncio tasks are attributed without any context variable.

- Until the first ``wait_next_invocation`` the id is ``wire.INIT_REQUEST_ID`` (module-level
  code of the handler); entering it the first time ends the init phase. A worker that
  awslambdaric forked on Lambda Managed Instances runs an init of its own, under
  ``wire.init_request_id(pid)``: one init recap per worker, each complete when that worker's
  init ends, however late.
- ``wait_next_invocation`` returning starts an invocation: ``result.invoke_id``.
- ``post_invocation_result`` / ``post_invocation_error`` returning means the response has
  been posted to Lambda: the `end` marker is queued and the sender woken; nothing is sent on
  this thread, so the hand-off adds no latency to the response.

The methods are patched with ``(*args, **kwargs)`` only: their signatures differ across
awslambdaric versions.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from httprecap import wire
from httprecap.internal import patching

RUNTIME_CLIENT_MODULE = "awslambdaric.lambda_runtime_client"
# Set for the runtime on Lambda Managed Instances: awslambdaric then forks its workers.
MAX_CONCURRENCY_VAR = "AWS_LAMBDA_MAX_CONCURRENCY"
CLIENT_CLASSES = ("LambdaRuntimeClient", "LambdaMultiConcurrentRuntimeClient")


class End:
    """The `end` marker as queued by the function thread; the sender adds counts and costs.

    (A plain class: dataclasses cost start-up time, and this module loads at interpreter start.)
    """

    __slots__ = ("duration_ms", "request_id", "started_us", "status")

    def __init__(self, request_id: str, status: str, started_us: int,
                 duration_ms: float) -> None:
        self.request_id = request_id
        self.status = status
        self.started_us = started_us
        self.duration_ms = duration_ms


class _State:
    request_id: str | None = wire.INIT_REQUEST_ID  # None: read it from awslambdaric
    started_us = time.time_ns() // 1000
    t0 = time.perf_counter()
    # Epoch µs minus perf_counter µs, taken with the two readings above: a call reads one
    # clock, not two, and converts on the sender (`wall_us`). Taken afresh each invocation,
    # so it follows the wall clock across a frozen (or restored) sandbox.
    wall_offset_us = started_us - t0 * 1e6
    init_open = True


state = _State()
# Set by bootstrap: queues an End and wakes the sender.
hand_off: Callable[[End], None] | None = None


def current_request_id() -> str:
    request_id = state.request_id
    return request_id if request_id is not None else _request_id_from_runtime()


def _request_id_from_runtime() -> str:
    bootstrap = sys.modules.get("awslambdaric.bootstrap")
    value = getattr(bootstrap, "_GLOBAL_AWS_REQUEST_ID", None)
    return value if isinstance(value, str) and value else wire.INIT_REQUEST_ID


def reset(now_us: int | None = None, *, worker: bool = False) -> None:
    """Back to the init phase (at install, and in a child after fork); `worker`: this process
    is a Lambda Managed Instances worker, whose init is its own (see `forks_workers`)."""
    state.request_id = wire.init_request_id(os.getpid()) if worker else wire.INIT_REQUEST_ID
    _clock(time.time_ns() // 1000 if now_us is None else now_us)
    state.init_open = True


def forks_workers(environ: Mapping[str, str]) -> bool:
    """Is this process, still in its init phase, the parent of Lambda Managed Instances
    workers? (awslambdaric forks them when AWS_LAMBDA_MAX_CONCURRENCY is set.) A child it
    forks once an invocation began is a helper of that invocation, not a worker."""
    return state.init_open and environ.get(MAX_CONCURRENCY_VAR) is not None


def begin(request_id: Any) -> None:
    """An invocation started (the runtime received its event)."""
    state.request_id = request_id if isinstance(request_id, str) and request_id else None
    _clock(time.time_ns() // 1000)


def _clock(now_us: int) -> None:
    t0 = time.perf_counter()
    state.started_us, state.t0, state.wall_offset_us = now_us, t0, now_us - t0 * 1e6


def wall_us(t0: float, offset_us: float) -> int:
    """Epoch µs of the perf_counter reading `t0`, given the offset taken when it was read."""
    return int(offset_us + t0 * 1e6)


def end(status: str) -> None:
    """The current phase is over: queue its `end` marker (never raises)."""
    try:
        marker = End(current_request_id(), status, state.started_us,
                     round((time.perf_counter() - state.t0) * 1000.0, 3))
        if hand_off is not None:
            hand_off(marker)
    except Exception:
        pass


def _wait_next_invocation(wrapped: Callable[..., Any], instance: Any,
                          args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if state.init_open:
        state.init_open = False
        end("success")
    result = wrapped(*args, **kwargs)
    begin(getattr(result, "invoke_id", None))
    return result


def _posting(status: str) -> patching.Wrapper:
    def post(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        try:
            result = wrapped(*args, **kwargs)
        except BaseException:
            end("error")
            raise
        end(status)
        return result

    return post


_post_result = _posting("success")
_post_error = _posting("error")

WRAPPERS = {
    "wait_next_invocation": _wait_next_invocation,
    "post_invocation_result": _post_result,
    "post_invocation_error": _post_error,
}


def patch_runtime_client(module: ModuleType) -> None:
    """Post-import hook for awslambdaric.lambda_runtime_client: patch where each method is
    defined (a base class in 4.x, the client class itself before), once."""
    for class_name in CLIENT_CLASSES:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            continue
        for method, wrapper in WRAPPERS.items():
            owner = patching.defining_class(cls, method)
            if owner is not None:
                patching.wrap(owner, method, wrapper)
