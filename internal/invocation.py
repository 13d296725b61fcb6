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
- ``post_init_error`` means the init failed and the process is about to exit: the init phase
  ends with status ``error`` and is handed over *before* the error is posted (Lambda may reset
  the environment as soon as it has it), within the short bound of the flush at exit.

A process the function starts during an invocation (``os.fork``, ``multiprocessing`` with the
fork start method, or, with HTTPRECAP_CAPTURE_SUBPROCESSES, a Python subprocess, which finds
the id in ``REQUEST_ID_VAR``) is a *helper* of that invocation (`adopt`): its calls carry the
invocation's request id, and it sends no `end` (the runtime's process counts only its own
calls; the extension takes a helper's calls as they come). ``multiprocessing``'s spawn and
forkserver start methods send each child the request id with their preparation data
(`patch_spawn`): a forkserver, started once, forks children for later invocations too.

The methods are patched with ``(*args, **kwargs)`` only: their signatures differ across
awslambdaric versions.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from httprecap import wire
from httprecap.internal import diagnostics, patching
from httprecap.internal.transport.record import End

if TYPE_CHECKING:
    from httprecap.internal.transport.record import Status

RUNTIME_CLIENT_MODULE = "awslambdaric.lambda_runtime_client"
# The request id a Python subprocess inherits (exported only with HTTPRECAP_CAPTURE_SUBPROCESSES).
REQUEST_ID_VAR = "_HTTPRECAP_REQUEST_ID"
# multiprocessing's spawn and forkserver children get it in their preparation data, under:
SPAWN_MODULE = "multiprocessing.spawn"
PREPARATION_KEY = "httprecap_request_id"
# Set for the runtime on Lambda Managed Instances: awslambdaric then forks its workers.
MAX_CONCURRENCY_VAR = "AWS_LAMBDA_MAX_CONCURRENCY"
CLIENT_CLASSES = ("LambdaRuntimeClient", "LambdaMultiConcurrentRuntimeClient")


class _State:
    request_id: str | None = wire.INIT_REQUEST_ID  # None: read it from awslambdaric
    started_us = time.time_ns() // 1000
    t0 = time.perf_counter()
    # Epoch µs minus perf_counter µs, taken with the two readings above: a call reads one
    # clock, not two, and converts on the sender (`wall_us`). Taken afresh each invocation,
    # so it follows the wall clock across a frozen (or restored) sandbox.
    wall_offset_us = started_us - t0 * 1e6
    init_open = True
    may_fork_workers = True  # the runtime's first process (see `forks_workers`)
    helper = False  # a process started for an invocation: no `end` of its own
    export = False  # put the request id in REQUEST_ID_VAR for subprocesses
    # A function in tenant-isolation mode: the tenant awslambdaric got with the invocation.
    tenant_id: str | None = None


state = _State()
# Given once at start-up (`configure`): queues an End and wakes the sender; hands everything
# over (bounded).
hand_off: Callable[[End], None] | None = None
flush: Callable[[], None] | None = None


def configure(handing_off: Callable[[End], None] | None,
              flushing: Callable[[], None] | None, *, export: bool = False) -> None:
    """Where a phase's `end` goes (`handing_off`), and what hands every finished call over
    before a failed init exits (`flushing`); None for both stops handing anything over.
    `export`: tell Python subprocesses the request id (HTTPRECAP_CAPTURE_SUBPROCESSES)."""
    global hand_off, flush
    hand_off, flush = handing_off, flushing
    state.export = export


def current_request_id() -> str:
    request_id = state.request_id
    return request_id if request_id is not None else _request_id_from_runtime()


def _request_id_from_runtime() -> str:
    bootstrap = sys.modules.get("awslambdaric.bootstrap")
    value = getattr(bootstrap, "_GLOBAL_AWS_REQUEST_ID", None)
    return value if isinstance(value, str) and value else wire.INIT_REQUEST_ID


def reset(now_us: int | None = None, *, worker: bool = False) -> None:
    """Back to the init phase (at install, and in a worker after fork); `worker`: this process
    is a Lambda Managed Instances worker, whose init is its own (see `forks_workers`)."""
    state.request_id = wire.init_request_id(os.getpid()) if worker else wire.INIT_REQUEST_ID
    _clock(time.time_ns() // 1000 if now_us is None else now_us)
    state.init_open = True
    state.helper = False
    state.may_fork_workers = not worker
    _export(state.request_id)  # a subprocess started during the init works for the init


def adopt(request_id: str | None = None) -> None:
    """This process is a helper of the invocation (or init) in progress in its parent: keep
    that request id (a forked child has it already; a subprocess is given it), end nothing."""
    if request_id:
        state.request_id = request_id
    state.init_open = False
    state.helper = True
    state.may_fork_workers = False


def inherited_request_id(environ: Mapping[str, str]) -> str | None:
    """The request id a parent exported to this (subprocess) interpreter, if any."""
    return _valid_request_id(environ.get(REQUEST_ID_VAR))


def _valid_request_id(request_id: Any) -> str | None:
    if not isinstance(request_id, str) or not request_id:
        return None
    try:
        wire.check_request_id(request_id, REQUEST_ID_VAR)
    except ValueError:
        return None
    return request_id


def forks_workers(environ: Mapping[str, str]) -> bool:
    """Is this process, still in its init phase, the parent of Lambda Managed Instances
    workers? (awslambdaric forks them from its first process when AWS_LAMBDA_MAX_CONCURRENCY
    is set.) A child forked once an invocation began, or by a worker, or by a helper, is a
    helper of that invocation (or init), not a worker."""
    return (state.init_open and state.may_fork_workers
            and environ.get(MAX_CONCURRENCY_VAR) is not None)


def begin(request_id: Any, tenant_id: Any = None) -> None:
    """An invocation started (the runtime received its event, for `tenant_id` if the function
    runs in tenant-isolation mode)."""
    state.request_id = request_id if isinstance(request_id, str) and request_id else None
    state.tenant_id = tenant_id if isinstance(tenant_id, str) and tenant_id else None
    _clock(time.time_ns() // 1000)
    if state.export and state.request_id is not None:
        _export(state.request_id)


def _export(request_id: str) -> None:
    """Tell the Python subprocesses started from now on which invocation they serve."""
    if state.export:
        try:
            os.environ[REQUEST_ID_VAR] = request_id
        except Exception as exc:
            diagnostics.swallowed("invocation.export", exc)


def _clock(now_us: int) -> None:
    t0 = time.perf_counter()
    state.started_us, state.t0, state.wall_offset_us = now_us, t0, now_us - t0 * 1e6


def wall_us(t0: float, offset_us: float) -> int:
    """Epoch µs of the perf_counter reading `t0`, given the offset taken when it was read."""
    return int(offset_us + t0 * 1e6)


def end(status: Status) -> None:
    """The current phase is over: queue its `end` marker (never raises). A helper has none."""
    try:
        if hand_off is None or state.helper:
            return
        hand_off(End(current_request_id(), status, state.started_us,
                     round((time.perf_counter() - state.t0) * 1000.0, 3), state.tenant_id))
    except Exception as exc:
        diagnostics.swallowed("invocation.end", exc)


def _wait_next_invocation(wrapped: Callable[..., Any], instance: Any,
                          args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if state.init_open:
        state.init_open = False
        end("success")
    result = wrapped(*args, **kwargs)
    begin(getattr(result, "invoke_id", None), getattr(result, "tenant_id", None))
    return result


def _posting(status: Status) -> patching.Wrapper:
    def post(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        # The result is returned, never bound: a frame a traceback keeps holds nothing.
        ended: Status = status
        try:
            return wrapped(*args, **kwargs)
        except BaseException:
            ended = "error"
            raise
        finally:
            end(ended)

    return post


def _post_init_error(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
    """The init failed (awslambdaric exits once this returns): its calls are handed over
    first, since Lambda may reset the environment the moment it has the error."""
    if state.init_open:
        state.init_open = False
        end("error")
        try:
            if flush is not None:
                flush()
        except Exception as exc:
            diagnostics.swallowed("invocation.post_init_error", exc)
    return wrapped(*args, **kwargs)


_post_result = _posting("success")
_post_error = _posting("error")

WRAPPERS = {
    "wait_next_invocation": _wait_next_invocation,
    "post_invocation_result": _post_result,
    "post_invocation_error": _post_error,
    "post_init_error": _post_init_error,
}


def patch_spawn(module: ModuleType) -> None:
    """Post-import hook for multiprocessing.spawn: the parent sends the request id with a
    child's preparation data; a child that captures (a forkserver's, or one spawned with
    HTTPRECAP_CAPTURE_SUBPROCESSES) takes it up before it runs its target."""
    patching.wrap(module, "get_preparation_data", _preparing)
    patching.wrap(module, "prepare", _preparing_child)


def _preparing(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    data = wrapped(*args, **kwargs)
    try:
        if isinstance(data, dict):
            data[PREPARATION_KEY] = current_request_id()
    except Exception as exc:
        diagnostics.swallowed("invocation.preparing", exc)
    return data


def _preparing_child(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
    try:
        data = args[0] if args else kwargs.get("data")
        request_id = _valid_request_id(data.get(PREPARATION_KEY)) \
            if isinstance(data, dict) else None
        if request_id is not None and state.helper:
            state.request_id = request_id
    except Exception as exc:
        diagnostics.swallowed("invocation.preparing_child", exc)
    return wrapped(*args, **kwargs)


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
