"""Transport contract: what the function process posts to the extension (both processes).

The internal extension POSTs batches as JSON to ``http://127.0.0.1:$HTTPRECAP_PORT/v1/batch``::

    {"v": 1, "pid": 4242, "seq": 7, "messages": [MESSAGE, ...]}

Each MESSAGE is a dict with a kind ``"k"``:

``hello``  the internal extension is active in process ``pid``.
           ``{"k": "hello", "pid": int, "python": "3.12.1", "version": "0.1.0"}``
``start``  a call began (sent only for calls still running when a batch leaves, so a call
           that never finishes can still be named): ``{"k": "start", "call": CALL}`` where
           CALL has at least id, requestId, startedAtUs, method, host, url.
``call``   a finished call: ``{"k": "call", "call": CALL}`` (fields: see ``CALL_FIELDS``).
``end``    every call of an invocation has been handed over:
           ``{"k": "end", "requestId": str, "status": "success"|"error", "calls": int,
           "startedAtUs": int, "durationMs": float, "dropped": {reason: int},
           "overheadUs": int}``. ``calls`` counts the ``call`` messages sent for it, so the
           extension knows when it holds them all.

Request ids (``requestId`` of a CALL or an ``end``) are Lambda's, except for the init phase
(module-level code of the handler): ``INIT_REQUEST_ID`` (``"init"``), or, in a worker process
that awslambdaric forked on Lambda Managed Instances, ``"init:<pid>"`` (``init_request_id``):
each worker runs its own init, and its init ends when that worker's ``end`` arrives. Any other
id that starts with ``"init:"`` breaks the contract (``check_request_id``).

The extension answers 202 to a valid batch and 4xx (with a one-line reason) to anything else.
Bounds below are part of the contract: both sides enforce them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs start-up time; see httprecap.settings
if TYPE_CHECKING:
    from typing import Any

VERSION = 1
PATH = "/v1/batch"
INIT_REQUEST_ID = "init"
WORKER_INIT_PREFIX = "init:"  # + the worker's pid, 1 to MAX_PID_DIGITS ASCII digits
MAX_PID_DIGITS = 10

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_MESSAGES = 5000
MAX_STRING = 8192
MAX_ATTEMPTS = 50

KINDS = ("hello", "start", "call", "end")
END_STATUSES = ("success", "error")

# Call fields, camelCase as they appear in the recap. Types are checked by `validate_call`.
CALL_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "requestId": (str,),
    "startedAtUs": (int,),
    "durationMs": (int, float),
    "method": (str,),
    "scheme": (str,),
    "host": (str,),
    "port": (int,),
    "path": (str,),
    "url": (str,),
    "status": (int, type(None)),
    "error": (dict, type(None)),
    "bytesSent": (int, type(None)),
    "bytesReceived": (int, type(None)),
    "library": (str,),
    "thread": (str,),
    "attempts": (list,),
    "aws": (dict, type(None)),
    "requestHeaders": (dict, type(None)),
    "responseHeaders": (dict, type(None)),
    "requestBody": (str, type(None)),
    "responseBody": (str, type(None)),
}
REQUIRED_CALL_FIELDS = ("id", "requestId", "startedAtUs", "method", "host", "url")
# The exact types JSON gives each field (so bool, an int subclass, is never an int here).
_CALL_TYPES = {name: frozenset(types) for name, types in CALL_FIELDS.items()}


class WireError(ValueError):
    """A batch that breaks the contract; the message is the 4xx reason sent back."""


def init_request_id(pid: int) -> str:
    """The init phase's request id in the Lambda Managed Instances worker `pid`."""
    return f"{WORKER_INIT_PREFIX}{pid}"


def is_init_request_id(request_id: str) -> bool:
    """True for the init phase of any process (a valid id: see `check_request_id`)."""
    return request_id == INIT_REQUEST_ID or request_id.startswith(WORKER_INIT_PREFIX)


def check_request_id(request_id: Any, where: str) -> None:
    """A string, and a worker's init id only in its one form (``init:`` + a pid)."""
    if not isinstance(request_id, str):
        raise WireError(f"{where}: requestId is not a string")
    if request_id.startswith(WORKER_INIT_PREFIX):
        pid = request_id[len(WORKER_INIT_PREFIX):]
        _check(0 < len(pid) <= MAX_PID_DIGITS and pid.isascii() and pid.isdigit(),
               f"{where}: malformed init requestId")


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise WireError(reason)


def _check_strings(value: Any, where: str) -> None:
    """Bound every string and the nesting depth of anything that came from outside.

    This runs on every call the extension receives: the check itself formats no text; only a
    value that fails it is walked again (`_explain`) to say where."""
    if not _bounded(value, 0):
        _explain(value, where)
        raise WireError(f"{where}: out of bounds")  # (_explain raises first)


def _bounded(value: Any, depth: int) -> bool:
    """What `_explain` checks, as a yes or no."""
    if depth >= 6:
        return False
    if isinstance(value, str):
        return len(value) <= MAX_STRING
    if isinstance(value, dict):
        if len(value) > 100:
            return False
        for key, item in value.items():
            if not isinstance(key, str):
                return False
            if isinstance(item, str):
                if len(item) > MAX_STRING or depth >= 5:
                    return False
            elif (depth >= 5 or isinstance(item, (dict, list))) and \
                    not _bounded(item, depth + 1):
                return False
        return True
    if isinstance(value, list):
        if len(value) > MAX_ATTEMPTS:
            return False
        return all(_bounded(item, depth + 1) for item in value)
    return True


def _explain(value: Any, where: str, depth: int = 0) -> None:
    """Raise WireError naming the first out-of-bounds part of `value` (the slow path)."""
    _check(depth < 6, f"{where}: nested too deeply")
    if isinstance(value, str):
        _check(len(value) <= MAX_STRING, f"{where}: string longer than {MAX_STRING}")
    elif isinstance(value, dict):
        _check(len(value) <= 100, f"{where}: too many keys")
        for key, item in value.items():
            _check(isinstance(key, str), f"{where}: non-string key")
            _explain(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        _check(len(value) <= MAX_ATTEMPTS, f"{where}: list longer than {MAX_ATTEMPTS}")
        for item in value:
            _explain(item, where, depth + 1)


def validate_call(call: Any) -> dict[str, Any]:
    """Check one CALL (a ``start`` notice carries the same shape without the outcome fields)."""
    # This runs on every call the extension receives: no text is formatted unless it fails.
    if not isinstance(call, dict):
        raise WireError("call: not an object")
    for name in REQUIRED_CALL_FIELDS:
        if name not in call:
            raise WireError(f"call: missing {name}")
    # One pass: the type of every known field (unknown ones, a newer sender's, are ignored,
    # not trusted) and the bounds of every value (`_check_strings`'s quick check, inline).
    types = _CALL_TYPES
    bounded = len(call) <= 100
    for name, value in call.items():
        kind = type(value)
        expected = types.get(name)
        if expected is not None and kind not in expected:
            raise WireError(f"call.{name}: wrong type")
        if kind is str:
            if len(value) > MAX_STRING:
                bounded = False
        elif kind is not int and kind is not float and value is not None and kind is not bool:
            bounded = bounded and _bounded(value, 1)
        if type(name) is not str:
            bounded = False
    check_request_id(call["requestId"], "call")
    if not bounded:
        _check_strings(call, "call")
    checked: dict[str, Any] = call
    return checked


def validate_message(message: Any) -> dict[str, Any]:
    _check(isinstance(message, dict), "message: not an object")
    kind = message.get("k")
    _check(kind in KINDS, f"message: unknown kind {kind!r}")
    if kind in ("start", "call"):
        validate_call(message.get("call"))
    elif kind == "end":
        _check(isinstance(message.get("requestId"), str), "end: missing requestId")
        check_request_id(message["requestId"], "end")
        _check(message.get("status") in END_STATUSES, "end: bad status")
        calls = message.get("calls")
        _check(isinstance(calls, int) and not isinstance(calls, bool) and calls >= 0,
               "end: bad calls count")
        _check_strings(message, "end")
    else:
        _check(isinstance(message.get("pid"), int), "hello: missing pid")
        _check_strings(message, "hello")
    checked: dict[str, Any] = message
    return checked


def validate_batch(batch: Any) -> list[dict[str, Any]]:
    """Return the batch's messages, or raise WireError saying why it is refused."""
    _check(isinstance(batch, dict), "batch: not an object")
    _check(batch.get("v") == VERSION, f"batch: unsupported version {batch.get('v')!r}")
    messages = batch.get("messages")
    _check(isinstance(messages, list), "batch: messages is not a list")
    _check(len(messages) <= MAX_MESSAGES, f"batch: more than {MAX_MESSAGES} messages")
    return [validate_message(message) for message in messages]
