"""Transport contract: what the function process posts to the extension (both processes).

The internal extension POSTs batches as JSON to ``http://127.0.0.1:$HTTPRECAP_PORT/v1/batch``::

    {"v": 1, "pid": 4242, "seq": 7, "messages": [MESSAGE, ...]}

Each MESSAGE is a dict with a kind ``"k"``:

``hello``  the internal extension is active in process ``pid``.
           ``{"k": "hello", "pid": int, "python": "3.12.1", "version": "0.1.0"}``, plus
           ``"helper": true`` from a child the function started for an invocation (a fork, a
           subprocess): it posts calls for the invocation in progress in its parent, never an
           ``end``, and its exit ends nothing.
``start``  a call began (sent only for calls still running when a batch leaves, so a call
           that never finishes can still be named): ``{"k": "start", "call": CALL}`` where
           CALL has at least id, requestId, startedAtUs, method, host, url.
``call``   a finished call: ``{"k": "call", "call": CALL}`` (fields: see ``CALL_FIELDS``).
``end``    every call of an invocation has been handed over:
           ``{"k": "end", "requestId": str, "status": "success"|"error", "calls": int,
           "startedAtUs": int, "durationMs": float, "dropped": {reason: int},
           "overheadUs": int}``, plus ``"tenantId": str`` for a function in tenant-isolation
           mode (the tenant awslambdaric got with the invocation). ``calls`` counts the
           ``call`` messages sent for it, so the extension knows when it holds them all. Only
           requestId, status and calls are required; a field after them with the wrong type
           is ignored (`check_end`).

Strings are valid Unicode: what user code hands us (URLs, header values, thread names,
exception texts) may hold lone surrogates, e.g. from a file name decoded with
``surrogateescape``; the sender replaces each with U+FFFD (`valid_text`) before encoding.

Request ids (``requestId`` of a CALL or an ``end``) are Lambda's, except for the init phase
(module-level code of the handler): ``INIT_REQUEST_ID`` (``"init"``), or, in a worker process
that awslambdaric forked on Lambda Managed Instances, ``"init:<pid>"`` (``init_request_id``):
each worker runs its own init, and its init ends when that worker's ``end`` arrives. Any other
id that starts with ``"init:"`` breaks the contract (``check_request_id``).

The extension answers 202 to a batch it can read and 4xx (with a one-line reason) to one it
cannot (not JSON, another version, no message list, too large). Within a readable batch a
message that breaks the contract costs only itself (`sort_batch`): the extension keeps the
others and counts it, against the invocation it names when it names one.
Bounds below are part of the contract: both sides enforce them.

Every message kind has one typed definition below (`HelloMessage`, `StartMessage`,
`CallMessage`, `EndMessage`, and `Batch`; a CALL is `WireCall`, its parts `WireAttempt`,
`ErrorInfo`, `AwsInfo`). They are `TypedDict`s for mypy only: at run time a message is the
plain dict ``json`` made, and the classes do not exist (``typing`` costs start-up time), so
other modules import them under ``if TYPE_CHECKING:`` and name them in annotations only.
What the extension makes of the calls, the recap, has its types in ``httprecap.recap_schema``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs start-up time; see httprecap.settings
if TYPE_CHECKING:
    from typing import Any, Literal, TypedDict

    # Required keys in one class, optional ones (`total=False`) in a subclass: `NotRequired`
    # is Python 3.11's, and core imports nothing outside the standard library.

    class ErrorInfo(TypedDict):
        """The exception the caller saw: its class name and its message, redacted and cut."""

        type: str
        message: str

    class _AwsRequired(TypedDict):
        service: str
        operation: str
        region: str  # "" when botocore knew none

    class AwsInfo(_AwsRequired, total=False):
        """An AWS SDK call's service, operation and region, as botocore names them."""

        resource: str  # the table, bucket, queue ... the call's parameters name

    class WireAttempt(TypedDict):
        """One wire attempt inside a call (a redirect hop, a retry)."""

        startedAtUs: int  # wall clock, microseconds since the epoch
        durationMs: float
        status: int | None
        error: ErrorInfo | None
        url: str  # redacted

    class _WireCallRequired(TypedDict):
        # REQUIRED_CALL_FIELDS: what a `start` notice carries at least.
        id: str
        requestId: str
        startedAtUs: int
        method: str
        host: str
        url: str  # redacted

    class WireCall(_WireCallRequired, total=False):
        """A CALL: the fields of `CALL_FIELDS` (validate_call checks their types; nested
        objects and lists are bounded, their items not checked). A finished call has them
        all but the opt-in ones; a `start` notice has no outcome (durationMs, status, error,
        sizes, attempts)."""

        scheme: str
        port: int
        path: str
        library: str
        thread: str
        aws: AwsInfo | None
        durationMs: float
        status: int | None
        error: ErrorInfo | None
        bytesSent: int | None
        bytesReceived: int | None
        attempts: list[WireAttempt]  # empty for a call of one attempt
        proxy: str | None  # a forward proxy's host:port
        timeoutS: float | None  # the effective timeout; None: unbounded (absent: not known)
        connection: str  # "new" or "reused" (absent: not known)
        connectMs: float  # for a new connection: time connecting (TCP)
        tlsMs: float  # and in TLS handshakes
        # Opt-in (HTTPRECAP_CAPTURE_HEADERS / _BODIES), as redacted: header name -> value.
        requestHeaders: dict[str, str] | None
        responseHeaders: dict[str, str] | None
        requestBody: str | None
        responseBody: str | None

    class _HelloRequired(TypedDict):
        k: Literal["hello"]
        pid: int

    class HelloMessage(_HelloRequired, total=False):
        python: str
        version: str
        helper: bool  # a child the function started: it never posts an `end`

    class StartMessage(TypedDict):
        k: Literal["start"]
        call: WireCall  # without its outcome

    class CallMessage(TypedDict):
        k: Literal["call"]
        call: WireCall

    class _EndRequired(TypedDict):
        k: Literal["end"]
        requestId: str
        status: Literal["success", "error"]
        calls: int  # the `call` messages sent for the invocation

    class EndMessage(_EndRequired, total=False):
        """Every call of an invocation has been handed over (`check_end` drops an optional
        field of the wrong type)."""

        startedAtUs: int
        durationMs: float
        dropped: dict[str, int]  # reason -> calls
        overheadUs: int
        tenantId: str  # a function in tenant-isolation mode

    Message = HelloMessage | StartMessage | CallMessage | EndMessage

    class _BatchRequired(TypedDict):
        v: int  # VERSION
        messages: list[Message]

    class Batch(_BatchRequired, total=False):
        """What the sender POSTs (the extension checks only `v` and `messages`)."""

        pid: int
        seq: int

VERSION = 1
PATH = "/v1/batch"
INIT_REQUEST_ID = "init"
WORKER_INIT_PREFIX = "init:"  # + the worker's pid, 1 to MAX_PID_DIGITS ASCII digits
MAX_PID_DIGITS = 10

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_MESSAGES = 5000
MAX_STRING = 8192
MAX_ATTEMPTS = 50
MAX_TENANT_ID = 256  # an `end`'s tenantId: Lambda's tenant ids are far shorter
MAX_COUNT = 2**53  # counts, microsecond clocks: what every JSON reader holds exactly

KINDS = ("hello", "start", "call", "end")
END_STATUSES = ("success", "error")
# Why a message was dropped, as counted in the recap's `dropped.reasons`.
INVALID_CALL = "invalidCall"  # a call's message (or the start notice of one that never ended)
INVALID_END = "invalidEnd"  # an `end`, or some of its fields, that broke the contract
INVALID_MESSAGE = "invalidMessage"  # anything else (no kind, an unknown kind, a bad hello)

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
    "proxy": (str, type(None)),
    "timeoutS": (int, float, type(None)),
    "connection": (str,),
    "connectMs": (int, float),
    "tlsMs": (int, float),
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


class Sorted:
    """A readable batch, sorted: the messages to apply, and a drop for each one that broke the
    contract, as (the request id it names or None, the `dropped` reason, why)."""

    __slots__ = ("drops", "messages", "unusable_starts")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.drops: list[tuple[str | None, str, str]] = []
        # A bad `start` notice loses nothing if its call ends (that call's own message counts
        # then): (request id, call id or "") of each, counted only if the call never ends.
        self.unusable_starts: list[tuple[str, str]] = []


def valid_text(text: str) -> str:
    """`text` as valid Unicode: each lone surrogate becomes U+FFFD (a str that encodes to UTF-8
    is returned as it is, so the common case costs one ASCII check)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def valid_value(value: Any) -> Any:
    """`value` (parsed JSON, or what is about to be dumped) with every string made valid."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_text(key) if isinstance(key, str) else key: valid_value(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [valid_value(item) for item in value]
    return value


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


def validate_call(call: Any) -> WireCall:
    """Check one CALL (a ``start`` notice carries the same shape without the outcome fields)."""
    # This runs on every call the extension receives: no text is formatted unless it fails.
    checked: WireCall = call  # once the checks below pass (bound first: they narrow `call`)
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
    return checked


def _is_count(value: Any) -> bool:
    """A JSON integer from 0 to MAX_COUNT (bool, an int subclass, is not one)."""
    return type(value) is int and 0 <= value <= MAX_COUNT


def _is_duration(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and 0 <= value < float("inf")


def _is_dropped(value: Any) -> bool:
    return isinstance(value, dict) and len(value) <= 100 and all(
        isinstance(key, str) and len(key) <= 100 and _is_count(count)
        for key, count in value.items())


def _is_tenant_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TENANT_ID


# The optional fields of an `end`, each with its check.
_END_FIELDS = {"startedAtUs": _is_count, "durationMs": _is_duration,
               "dropped": _is_dropped, "overheadUs": _is_count, "tenantId": _is_tenant_id}


def check_end(message: dict[str, Any]) -> list[str]:
    """Check an `end` as parsed, before it is an `EndMessage` (WireError if its requestId,
    status or calls is bad: it is unusable); remove the optional fields of a wrong type and
    return their names."""
    check_request_id(message.get("requestId"), "end")
    _check(message.get("status") in END_STATUSES, "end: bad status")
    _check(_is_count(message.get("calls")), "end: bad calls count")
    ignored = [name for name, valid in _END_FIELDS.items()
               if name in message and not valid(message[name])]
    for name in ignored:
        del message[name]
    _check_strings(message, "end")
    return ignored


def validate_message(message: Any) -> Message:
    """Check one message (an `end` loses its optional fields of a wrong type: `check_end`)."""
    _check_message(message)
    checked: Message = message
    return checked


def _check_message(message: Any) -> list[str]:
    """WireError if `message` is unusable; else the fields it had to lose (an `end`'s)."""
    _check(isinstance(message, dict), "message: not an object")
    kind = message.get("k")
    _check(kind in KINDS, f"message: unknown kind {kind!r}")
    if kind in ("start", "call"):
        validate_call(message.get("call"))
    elif kind == "end":
        return check_end(message)
    else:
        _check(isinstance(message.get("pid"), int), "hello: missing pid")
        _check_strings(message, "hello")
    return []


def _messages(batch: Any) -> list[Any]:
    """The batch's message list, or WireError saying why the whole batch is refused."""
    _check(isinstance(batch, dict), "batch: not an object")
    _check(batch.get("v") == VERSION, f"batch: unsupported version {batch.get('v')!r}")
    messages = batch.get("messages")
    _check(isinstance(messages, list), "batch: messages is not a list")
    _check(len(messages) <= MAX_MESSAGES, f"batch: more than {MAX_MESSAGES} messages")
    checked: list[Any] = messages
    return checked


def validate_batch(batch: Any) -> list[Message]:
    """Return the batch's messages, or raise WireError naming the first that breaks the
    contract (a strict reader; the extension sorts instead: `sort_batch`)."""
    return [validate_message(message) for message in _messages(batch)]


def sort_batch(batch: Any) -> Sorted:
    """The batch's valid messages and a drop for each other one (WireError only when the
    batch as a whole is unreadable). An `end` with some bad optional fields is kept without
    them, and counted."""
    result = Sorted()
    kept: list[Any] = result.messages  # each appended once checked
    for message in _messages(batch):
        try:
            # This runs for every call the extension receives: a call is checked directly.
            if type(message) is dict and message.get("k") == "call":
                validate_call(message.get("call"))
                kept.append(message)
                continue
            ignored = _check_message(message)
        except WireError as exc:
            _sort_out(message, str(exc), result)
            continue
        kept.append(message)
        if ignored:
            result.drops.append((message["requestId"], INVALID_END,
                                 f"end: ignored {', '.join(ignored)}"))
    return result


def _sort_out(message: Any, why: str, result: Sorted) -> None:
    """Record an unusable message in `result`: a drop, or an unusable start notice."""
    request_id = named_request_id(message)
    kind = message.get("k") if isinstance(message, dict) else None
    if kind == "start" and request_id is not None:
        call_id = message["call"].get("id")
        result.unusable_starts.append((request_id, call_id if isinstance(call_id, str) else ""))
        return
    reason = {"call": INVALID_CALL, "start": INVALID_CALL, "end": INVALID_END}.get(
        kind if isinstance(kind, str) else "", INVALID_MESSAGE)
    result.drops.append((request_id, reason, why))


def named_request_id(message: Any) -> str | None:
    """The well-formed request id a message names, if any (the invocation to count it
    against)."""
    if not isinstance(message, dict):
        return None
    carrier = message.get("call") if message.get("k") in ("start", "call") else message
    request_id = carrier.get("requestId") if isinstance(carrier, dict) else None
    if not isinstance(request_id, str) or len(request_id) > MAX_STRING:
        return None
    try:
        check_request_id(request_id, "message")
    except WireError:
        return None
    return request_id
