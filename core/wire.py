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
``calls``  finished calls of one invocation, written compactly (what the sender posts: the
           calls of a function repeat their method, location, library and thread, which are
           then written, parsed and checked once)::

               {"k": "calls", "requestId": str, "shapes": [SHAPE, ...], "rows": [ROW, ...]}

           A SHAPE is an object of CALL members that several calls share; a ROW is
           ``[shape, id, startedAtUs, durationMs, status, bytesSent, bytesReceived]``, where
           ``shape`` is an index into ``shapes``, plus optionally an object of further CALL
           members (an error, the attempts, a new connection's times). The CALL of a row is
           ``error`` null and ``attempts`` empty, then its shape's members, then its
           object's, then the message's ``requestId`` and the row's seven values
           (`calls_of`). A row that breaks the contract costs only its call.
``end``    every call of an invocation has been handed over:
           ``{"k": "end", "requestId": str, "status": "success"|"error", "calls": int,
           "startedAtUs": int, "durationMs": float, "dropped": {reason: int},
           "overheadUs": int}``, plus ``"tenantId": str`` for a function in tenant-isolation
           mode (the tenant awslambdaric got with the invocation). ``calls`` counts the
           calls sent for it (``call`` messages and rows of ``calls``), so the extension
           knows when it holds them all. Only requestId, status and calls are required; a
           field after them with the wrong type is ignored (`check_end`).

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
`CallMessage`, `CallsMessage`, `EndMessage`, and `Batch`; a CALL is `WireCall`, its parts
`WireAttempt`, `ErrorInfo`, `AwsInfo`). They are `TypedDict`s for mypy only: at run time a
message is the plain dict ``json`` made, and the classes do not exist (``typing`` costs
start-up time), so other modules import them under ``if TYPE_CHECKING:`` and name them in
annotations only.
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

    class CallsMessage(TypedDict):
        """Finished calls of one invocation as rows over shared shapes (see `calls_of`)."""

        k: Literal["calls"]
        requestId: str
        shapes: list[dict[str, Any]]  # each: members of a WireCall
        # [shape, id, startedAtUs, durationMs, status, bytesSent, bytesReceived(, members)]
        rows: list[list[Any]]

    class _EndRequired(TypedDict):
        k: Literal["end"]
        requestId: str
        status: Literal["success", "error"]
        calls: int  # the calls sent for the invocation (messages and rows)

    class EndMessage(_EndRequired, total=False):
        """Every call of an invocation has been handed over (`check_end` drops an optional
        field of the wrong type)."""

        startedAtUs: int
        durationMs: float
        dropped: dict[str, int]  # reason -> calls
        overheadUs: int
        tenantId: str  # a function in tenant-isolation mode

    Message = HelloMessage | StartMessage | CallMessage | EndMessage
    # What a batch may carry; `sort_batch` turns each row of a `calls` into a CallMessage.
    PostedMessage = Message | CallsMessage

    class _BatchRequired(TypedDict):
        v: int  # VERSION
        messages: list[PostedMessage]

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
MAX_MESSAGES = 5000  # a batch's messages, rows of `calls` included
MAX_STRING = 8192
MAX_ATTEMPTS = 50
MAX_TENANT_ID = 256  # an `end`'s tenantId: Lambda's tenant ids are far shorter
MAX_COUNT = 2**53  # counts, microsecond clocks: what every JSON reader holds exactly

KINDS = ("hello", "start", "call", "calls", "end")
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
    """A readable batch, sorted: the messages to apply (the rows of a `calls` with no members
    of their own as `Rows`, the others each as a `call`), and a drop for each one that broke
    the contract, as (the request id it names or None, the `dropped` reason, why)."""

    __slots__ = ("drops", "messages", "unusable_starts")

    def __init__(self) -> None:
        self.messages: list[Message | Rows] = []
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
    check_request_id(call["requestId"], "call")
    _check_members(call, "call")
    return checked


def _check_members(members: dict[Any, Any], where: str) -> None:
    """The type of every known CALL field among `members` (unknown ones, a newer sender's,
    are ignored, not trusted) and the bounds of every value, in one pass (`_check_strings`'s
    quick check, inline)."""
    types = _CALL_TYPES
    bounded = len(members) <= 100
    for name, value in members.items():
        kind = type(value)
        expected = types.get(name)
        if expected is not None and kind not in expected:
            raise WireError(f"{where}.{name}: wrong type")
        if kind is str:
            if len(value) > MAX_STRING:
                bounded = False
        elif kind is not int and kind is not float and value is not None and kind is not bool:
            bounded = bounded and _bounded(value, 1)
        if type(name) is not str:
            bounded = False
    if not bounded:
        _check_strings(members, where)


def calls_of(message: Any) -> list[WireCall]:
    """The CALLs of a `calls` message, or WireError naming the first part that breaks the
    contract (a strict reader; `sort_batch` drops only what breaks it)."""
    request_id, rows, shapes = _calls_parts(message)
    return [row_call(row, request_id, shapes) for row in rows]


def _calls_parts(message: Any) -> tuple[str, list[Any], list[dict[str, Any] | None]]:
    """A `calls` message's request id, its rows, and its shapes as checked (None for one
    that breaks the contract: only the rows naming it are lost)."""
    _check(isinstance(message, dict), "calls: not an object")
    request_id = message.get("requestId")
    check_request_id(request_id, "calls")
    _check(len(request_id) <= MAX_STRING, "calls: requestId too long")
    shapes, rows = message.get("shapes"), message.get("rows")
    _check(type(shapes) is list and len(shapes) <= MAX_MESSAGES,
           f"calls: shapes is not a list of at most {MAX_MESSAGES}")
    _check(type(rows) is list, "calls: rows is not a list")
    return request_id, rows, [_shape(shape) for shape in shapes]


def _shape(shape: Any) -> dict[str, Any] | None:
    if type(shape) is not dict:
        return None
    try:
        _check_members(shape, "calls.shape")
    except WireError:
        return None
    return shape


def row_call(row: Any, request_id: str, shapes: list[dict[str, Any] | None]) -> WireCall:
    """The CALL of one row of a `calls` message whose shapes are checked (`_calls_parts`)."""
    return _merged(request_id, _checked_row(row, shapes), row)


def _checked_row(row: Any, shapes: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Check one row; its shape, with its own members when it has them.

    This runs on every call the extension receives: seven values checked in place (the
    shape was checked once for all its rows)."""
    size = len(row) if type(row) is list else 0
    if size == 7:
        shape_index, call_id, started_us, duration_ms, status, sent, received = row
    elif size == 8:
        shape_index, call_id, started_us, duration_ms, status, sent, received, _ = row
    else:
        raise WireError("calls: a row is not a list of 7 or 8 values")
    shape = shapes[shape_index] if type(shape_index) is int and \
        0 <= shape_index < len(shapes) else None
    if shape is None:
        raise WireError("calls: a row names no valid shape")
    if type(call_id) is not str or len(call_id) > MAX_STRING:
        raise WireError("calls.row.id: wrong type")
    if type(started_us) is not int:
        raise WireError("calls.row.startedAtUs: wrong type")
    if type(duration_ms) is not float and type(duration_ms) is not int:
        raise WireError("calls.row.durationMs: wrong type")
    if (status is not None and type(status) is not int) or (
            sent is not None and type(sent) is not int) or (
            received is not None and type(received) is not int):
        raise WireError("calls.row: a status or size of the wrong type")
    if size == 8:
        members = row[7]
        if type(members) is not dict:
            raise WireError("calls.row: its members are not an object")
        _check_members(members, "calls.row")
        shape = {**shape, **members}
    if "method" not in shape or "host" not in shape or "url" not in shape:
        raise WireError("calls: a call without its method, host or url")
    return shape


def _merged(request_id: str, shape: dict[str, Any], row: list[Any]) -> WireCall:
    call: WireCall = {"error": None, "attempts": [], **shape,  # type: ignore[typeddict-item]
                      "requestId": request_id, "id": row[1], "startedAtUs": row[2],
                      "durationMs": row[3], "status": row[4], "bytesSent": row[5],
                      "bytesReceived": row[6]}
    return call


class Rows:
    """Consecutive checked rows of a `calls` message with no members of their own, as
    `sort_batch` keeps them: the extension encodes such calls from their shapes' parts, made
    once for all of a shape's rows (aggregate/encoded_call.py `ShapeParts`), in one loop.
    `calls` makes the CALLs they stand for."""

    __slots__ = ("request_id", "rows", "shapes")

    def __init__(self, request_id: str, shapes: list[dict[str, Any] | None]) -> None:
        self.request_id = request_id
        self.shapes = shapes  # the message's, as checked: each row's first value names one
        # [shape, id, startedAtUs, durationMs, status, bytesSent, bytesReceived]
        self.rows: list[list[Any]] = []

    def call(self, row: list[Any]) -> WireCall:
        """The CALL one of `rows` stands for."""
        shape = self.shapes[row[0]]
        assert shape is not None  # (a row names a checked shape)
        return _merged(self.request_id, shape, row)

    def calls(self) -> list[WireCall]:
        return [self.call(row) for row in self.rows]


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
    elif kind == "calls":
        calls_of(message)
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
    rows = sum(len(message["rows"]) for message in messages if type(message) is dict
               and message.get("k") == "calls" and type(message.get("rows")) is list)
    _check(len(messages) + rows <= MAX_MESSAGES,
           f"batch: more than {MAX_MESSAGES} messages and rows")
    checked: list[Any] = messages
    return checked


def validate_batch(batch: Any) -> list[Message]:
    """Return the batch's messages, each row of a `calls` as a `call`, or raise WireError
    naming the first that breaks the contract (a strict reader; the extension sorts instead:
    `sort_batch`)."""
    checked: list[Message] = []
    for message in _messages(batch):
        if isinstance(message, dict) and message.get("k") == "calls":
            checked += ({"k": "call", "call": call} for call in calls_of(message))
        else:
            checked.append(validate_message(message))
    return checked


def sort_batch(batch: Any) -> Sorted:
    """The batch's valid messages and a drop for each other one (WireError only when the
    batch as a whole is unreadable). An `end` with some bad optional fields is kept without
    them, and counted."""
    result = Sorted()
    kept: list[Any] = result.messages  # each appended once checked
    for message in _messages(batch):
        try:
            # This runs for every call the extension receives: a call is checked directly.
            if type(message) is dict:
                kind = message.get("k")
                if kind == "call":
                    validate_call(message.get("call"))
                    kept.append(message)
                    continue
                if kind == "calls":
                    _sort_calls(message, result)
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


def _sort_calls(message: dict[str, Any], result: Sorted) -> None:
    """Each row of a `calls` message as a `call` in `result`, or a drop for each that breaks
    the contract (for each of its rows when the message as a whole does)."""
    try:
        request_id, rows, shapes = _calls_parts(message)
    except WireError as exc:
        posted = message.get("rows")
        lost = len(posted) if type(posted) is list and posted else 1
        result.drops += [(named_request_id(message), INVALID_CALL, str(exc))] * lost
        return
    kept: list[Any] = result.messages
    run: Rows | None = None
    for row in rows:
        try:
            shape = _checked_row(row, shapes)
        except WireError as exc:
            result.drops.append((request_id, INVALID_CALL, str(exc)))
            continue
        if len(row) == 7:
            if run is None:
                run = Rows(request_id, shapes)
                kept.append(run)
            run.rows.append(row)
        else:  # its own members: a call of its own, in its place
            kept.append({"k": "call", "call": _merged(request_id, shape, row)})
            run = None


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
