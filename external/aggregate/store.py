"""Aggregate: open invocations keyed by request id, and when each is complete (extension process).

The collector and the telemetry listener feed the `Aggregator` from their threads; the run loop
waits on it for the invocation Lambda just announced and takes its recap. Everything is keyed by
request id, never by arrival order, so late, early or interleaved data lands where it belongs.

When an invocation is complete is decided by the rules in completion.py; this module keeps the
state they read and lets the run loop wait for them.

The init phase: `wire.INIT_REQUEST_ID` ships with the first invocation's recap (`take`); on
Lambda Managed Instances each worker's init (`init:<pid>`) is complete on its own, by rule 1
or 2, whenever that worker's init ends. A classic init that failed (its `end` says `error`:
the runtime posted an init error and exits) ships on its own as soon as it is complete
(`on_init_failed`), not with an invocation that may never come to this environment.
Calls from a child the function started (a fork, a subprocess) carry the invocation's request
id and join its recap whenever they arrive before it ships; after, they are `lateArrival`.
Memory is bounded: open invocations, calls per recap, and the ids remembered after shipping.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

from httprecap import wire
from httprecap.external.aggregate.completion import check
from httprecap.external.aggregate.encoded_call import EncodedCall, ShapeParts
from httprecap.external.aggregate.function_context import unqualified
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import (
    DEFAULT_LEVELS,
    HINT_NO_WRAPPER,
    HINT_SILENT,
    Context,
    build_recap,
    parse_iso_us,
    resolve_outcome,
)

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.aggregate.findings.registry import Findings
    from httprecap.external.aggregate.function_context import FunctionFacts
    from httprecap.wire import Message

MAX_OPEN = 64
REMEMBER_SHIPPED = 512
IDLE_WAIT = 60.0  # re-check at least this often even when no deadline is known


def _wall_us() -> int:
    return time.time_ns() // 1000


class Aggregator:
    """Open invocations and their completion; fed from any thread, waited on by the run loop.

    Configured by its constructor with what is known at launch (see mode.py): how many
    invocations may be open at once, whether our wrapper is set, whether telemetry comes
    promptly. Three facts come later, each through its own method: whether the telemetry
    subscription worked (`telemetry_subscribed`), the function's name (`identify_function`,
    from the registration) and who ships a failed init (`when_init_fails`).
    """

    def __init__(self, max_calls: int, clock: Callable[[], float] = time.monotonic,
                 wall_us: Callable[[], int] = _wall_us, *, max_open: int = MAX_OPEN,
                 wrapper_set: bool = False, telemetry_prompt: bool = True,
                 findings: Findings | None = None, facts: FunctionFacts | None = None,
                 levels: tuple[str, str] = DEFAULT_LEVELS) -> None:
        self.max_calls = max_calls
        self.findings = findings  # the detectors, and what they remember across invocations
        self.facts = facts  # what every recap of this environment is grouped by
        self.levels = levels  # `level` of a quiet recap, and of one with an error
        # A function in tenant-isolation mode runs each environment for one tenant only: the
        # tenant an `end` or telemetry named once is every invocation's, even one whose own
        # platform.start comes after its recap is built.
        self.tenant_id: str | None = None
        self.function_arn: str | None = None  # unqualified, as the latest invocation named it
        self.max_open = max_open  # Lambda Managed Instances keep many invocations open at once
        self.function_name = ""
        self.function_version = ""
        self.internal_active = False  # any valid batch arrived: the wrapper is set
        self.wrapper_set = False  # see expect_internal()
        self.internal_expected = False
        self.telemetry_active = False  # see telemetry_subscribed()
        self.telemetry_prompt = telemetry_prompt  # subscribed with the shortest buffering
        self._clock = clock
        self._wall_us = wall_us
        self._cond = threading.Condition()
        self._open: dict[str, Invocation] = {}
        self._shipped: deque[str] = deque()
        self._shipped_set: set[str] = set()
        self._carried: Counter[str] = Counter()
        self._init_settled = False
        self._init_failed = False
        # Called once, outside the lock, when the classic init's `end` says it failed.
        self.on_init_failed: Callable[[], None] | None = None
        self._hint_given = False
        # Processes that posted an `end`, i.e. ran invocations: pid -> whether it is classic
        # Lambda's one runtime process (its init was "init", not a worker's "init:<pid>").
        self._runtime_pids: dict[int, bool] = {}
        # Processes that said in their hello they are helpers of another's invocations (a
        # child the function started): their exit ends none of those invocations.
        self._helper_pids: set[int] = set()
        # Classic Lambda's runtime died with no announced invocation open: Lambda had already
        # given it the next one, whose INVOKE reaches us after its connection closed.
        self._runtime_gone = False
        if wrapper_set:
            self.expect_internal()

    def telemetry_subscribed(self, active: bool) -> None:
        """Whether the Telemetry API will deliver to us (known once registered)."""
        with self._cond:
            self.telemetry_active = active

    def identify_function(self, name: str, version: str) -> None:
        """The function's name and version, as registration told them, for every recap."""
        self.function_name, self.function_version = name, version

    def when_init_fails(self, report: Callable[[], None]) -> None:
        """Call `report` once (outside the lock) when the classic init's `end` says it failed."""
        self.on_init_failed = report

    # ------------------------------------------------------------------ inputs (any thread)

    def apply(self, messages: Iterable[Message], pid: int | None = None) -> None:
        """Messages of one validated batch (see httprecap.wire); `pid` is the posting
        process's (see `process_gone`)."""
        sorted_batch = wire.Sorted()
        sorted_batch.messages = list(messages)
        self.apply_batch(sorted_batch, pid)

    def apply_batch(self, batch: wire.Sorted, pid: int | None = None) -> None:
        """A batch as `wire.sort_batch` sorted it: its valid messages, and the messages that
        broke the contract, each counted against the invocation it names (`_count_drop`)."""
        # Encoding the calls is the costly part: do it before taking the lock, so the run
        # loop and the telemetry listener never wait for it.
        encoded = [(message, _encoded_rows(message)) if isinstance(message, wire.Rows) else
                   (message, _encoded(message)) for message in batch.messages]
        with self._cond:
            now = self._clock()
            self.internal_active = True
            for message, call in encoded:
                if isinstance(message, wire.Rows):
                    self._apply_rows(message, call, now, pid)  # type: ignore[arg-type]
                else:
                    self._apply_message(message, call, now, pid)  # type: ignore[arg-type]
            for request_id, reason, _ in batch.drops:
                self._count_drop(request_id, reason, now)
            for request_id, call_id in batch.unusable_starts:
                if request_id not in self._shipped_set:
                    self._get(request_id, now).add_unusable_start(call_id, self.max_calls)
            self._cond.notify_all()
        if self._init_failed and self.on_init_failed is not None:
            report, self.on_init_failed = self.on_init_failed, None
            report()

    def _apply_message(self, message: Message, call: EncodedCall | None,
                       now: float, pid: int | None) -> None:
        # Tested as message["k"] (not a local copy) where mypy must tell the kinds apart.
        kind = message["k"]
        if message["k"] == "hello":
            if message.get("helper") is True and pid is not None:
                self._helper_pids.add(pid)
            return
        request_id = message["requestId"] if message["k"] == "end" else \
            message["call"]["requestId"]
        if kind == "end" and pid is not None:
            classic = request_id == wire.INIT_REQUEST_ID or self._runtime_pids.get(pid, False)
            self._runtime_pids[pid] = classic
            if classic:
                self._runtime_gone = False  # a new runtime (after a reset) is running
        if request_id in self._shipped_set:
            if kind == "call":
                self._carried["lateArrival"] += 1
            return
        inv = self._get(request_id, now)
        if pid not in self._helper_pids:
            inv.pid = pid
        if call is not None:
            inv.add_call(call, self.max_calls)
        elif message["k"] == "call":  # could not be encoded (a value out of any real range)
            inv.add_unusable_call(message["call"]["id"], self.max_calls)
        elif message["k"] == "start":
            inv.add_start(message["call"], self.max_calls)
        else:
            inv.set_end(message, now)
            # The function process names the tenant with the invocation's end, before any
            # telemetry could: the recap that ships at the hand-off has it already.
            self.tenant_id = message.get("tenantId") or self.tenant_id
            if request_id == wire.INIT_REQUEST_ID and message["status"] == "error":
                self._init_failed = True

    def _apply_rows(self, rows: wire.Rows, calls: list[EncodedCall | None], now: float,
                    pid: int | None) -> None:
        """Calls of a `calls` message, as `_apply_message` applies `call`s one by one."""
        request_id = rows.request_id
        if request_id in self._shipped_set:
            self._carried["lateArrival"] += len(calls)
            return
        inv = self._get(request_id, now)
        if pid not in self._helper_pids:
            inv.pid = pid
        cap = self.max_calls
        if None not in calls:
            inv.add_calls(calls, cap)  # type: ignore[arg-type]  # (no None: checked)
            return
        for row, call in zip(rows.rows, calls, strict=True):
            if call is not None:
                inv.add_call(call, cap)
            else:
                inv.add_unusable_call(row[1], cap)

    def _count_drop(self, request_id: str | None, reason: str, now: float) -> None:
        """A message that broke the contract: counted against the invocation it names, or the
        next recap that ships if that one has shipped. One that names none is not ours to
        count (the collector logs it): the function process always names its invocation."""
        if request_id is None:
            return
        if request_id in self._shipped_set:
            self._carried[reason] += 1
            return
        inv = self._get(request_id, now)
        if reason == wire.INVALID_CALL:
            inv.add_unusable_call(None, self.max_calls)
        else:
            inv.dropped[reason] += 1

    def apply_telemetry(self, events: Iterable[dict[str, Any]]) -> None:
        """Telemetry API events; only platform.start/runtimeDone/report matter here."""
        with self._cond:
            now = self._clock()
            for event in events:
                self._apply_event(event, now)
            self._cond.notify_all()

    def _apply_event(self, event: dict[str, Any], now: float) -> None:
        record = event.get("record")
        kind = event.get("type")
        if not isinstance(record, dict) or kind not in (
                "platform.start", "platform.runtimeDone", "platform.report"):
            return
        self.tenant_id = _text(record.get("tenantId")) or self.tenant_id
        request_id = record.get("requestId")
        if not isinstance(request_id, str) or request_id in self._shipped_set:
            return
        inv = self._get(request_id, now)
        if kind == "platform.start":
            inv.invoked = True  # Lambda Managed Instances send no INVOKE: this is the sign
            inv.platform_start_us = parse_iso_us(str(event.get("time", "")))
            inv.trace = inv.trace or _trace_value(record.get("tracing"))
            inv.function_arn = inv.function_arn or _text(record.get("functionArn"))
            self.function_arn = unqualified(inv.function_arn) or self.function_arn
        elif kind == "platform.runtimeDone":
            inv.runtime_done, inv.runtime_done_at = record, now
        else:
            inv.report_status = str(record.get("status"))
            if inv.runtime_done is None:
                # No runtimeDone on Lambda Managed Instances: the report carries its status
                # and duration, and says the runtime is done.
                inv.runtime_done, inv.runtime_done_at = record, now

    def on_invoke(self, event: Mapping[str, Any]) -> str:
        """An INVOKE event: the request id, its deadline and its trace header."""
        request_id = str(event.get("requestId", ""))
        with self._cond:
            inv = self._get(request_id, self._clock())
            inv.invoked = True
            inv.invoked_at_us = self._wall_us()
            deadline_ms = event.get("deadlineMs")
            if isinstance(deadline_ms, (int, float)):
                inv.deadline_us = int(deadline_ms * 1000)
                inv.deadline_at = self._clock() + (inv.deadline_us - inv.invoked_at_us) / 1e6
            inv.trace = _trace_value(event.get("tracing")) or inv.trace
            inv.function_arn = _text(event.get("invokedFunctionArn")) or inv.function_arn
            self.function_arn = unqualified(inv.function_arn) or self.function_arn
            if self._runtime_gone and inv.pid is None and inv.end is None:
                self._runtime_gone = False
                inv.gone = True
                self._cond.notify_all()
        return request_id

    def process_gone(self, pid: int) -> None:
        """Process `pid`, which posted batches, has died: each open invocation it was running
        (its messages named it last, and no `end` came) is complete now, as a `failure`. If it
        was classic Lambda's runtime, so is the invocation Lambda announced and it had not
        posted anything for yet."""
        with self._cond:
            self._helper_pids.discard(pid)
            classic = self._runtime_pids.pop(pid, False)
            announced = False
            for inv in self._open.values():
                if inv.end is None and (inv.pid == pid or (
                        classic and inv.pid is None and inv.invoked and inv.phase == "invoke")):
                    inv.gone = True
                    announced = announced or inv.invoked
            self._runtime_gone = classic and not announced
            self._cond.notify_all()

    def expect_internal(self) -> None:
        """AWS_LAMBDA_EXEC_WRAPPER names our wrapper: the function process's batches will come,
        even if none has yet (the first INVOKE can beat its first batch)."""
        self.wrapper_set = self.internal_expected = True

    def carry(self, reasons: Mapping[str, int]) -> None:
        """Losses found elsewhere (the sinks' retry queues), reported in the next recap."""
        with self._cond:
            self._carried.update({k: v for k, v in reasons.items() if v > 0})

    def _get(self, request_id: str, now: float) -> Invocation:
        inv = self._open.get(request_id)
        if inv is None:
            if len(self._open) >= self.max_open:
                self._evict_oldest()
            phase = "init" if wire.is_init_request_id(request_id) else "invoke"
            inv = self._open[request_id] = Invocation(request_id, phase, now)
        inv.touched_at = now
        return inv

    def _evict_oldest(self) -> None:
        # Request ids Lambda never announced (a confused or hostile poster on the collector's
        # port) go first and silently: they must not push out, or be counted against, the
        # recaps of real invocations. Init phases (which Lambda never announces) go next: a
        # flood of made-up worker init ids pushes out only init phases.
        unannounced = [inv for inv in self._open.values()
                       if not inv.invoked and inv.phase == "invoke"]
        inits = [inv for inv in self._open.values() if inv.phase == "init"]
        oldest = min(unannounced or inits or self._open.values(), key=lambda inv: inv.touched_at)
        del self._open[oldest.request_id]
        self._remember(oldest.request_id)
        if oldest.received and not unannounced:
            self._carried["evicted"] += oldest.received

    def _remember(self, request_id: str) -> None:
        self._shipped.append(request_id)
        self._shipped_set.add(request_id)
        if len(self._shipped) > REMEMBER_SHIPPED:
            self._shipped_set.discard(self._shipped.popleft())

    # ------------------------------------------------------------------------- completion

    def completion(self, request_id: str, handoff_s: float) -> tuple[str | None, float | None]:
        """(reason, None) once complete, else (None, the monotonic time to check again)."""
        with self._cond:
            inv = self._open.get(request_id)
            if inv is None:
                return "gone", None
            reason, wake = check(inv, self, handoff_s, self._clock())
            if reason and inv.completed_at is None:
                inv.completed_at = inv.touched_at if reason == "handoff" else self._clock()
            return reason, wake

    def wait_complete(self, request_id: str, handoff_s: float) -> str:
        """Block until `request_id` is complete; return why (see completion.py)."""
        with self._cond:
            while True:
                reason, wake = self.completion(request_id, handoff_s)
                if reason is not None:
                    return reason
                timeout = IDLE_WAIT if wake is None else max(wake - self._clock(), 0.0005)
                self._cond.wait(min(timeout, IDLE_WAIT))

    def wait_completed(self, handoff_s: float, stale_s: float,
                       timeout: float) -> list[tuple[str, str]]:
        """(request id, reason) of every open invocation complete now, waiting up to `timeout`
        for one (Lambda Managed Instances, where nothing announces which one to wait for).

        An invocation nothing was heard of for `stale_s` is complete too (reason `stale`).
        """
        with self._cond:
            deadline = self._clock() + timeout
            while True:
                now = self._clock()
                done, wake = self._completed_now(handoff_s, stale_s, now)
                if done or now >= deadline:
                    return done
                self._cond.wait(max(min(wake, deadline) - now, 0.0005))

    def _completed_now(self, handoff_s: float, stale_s: float,
                       now: float) -> tuple[list[tuple[str, str]], float]:
        done: list[tuple[str, str]] = []
        wake = now + IDLE_WAIT
        for inv in self._open.values():
            if inv.request_id == wire.INIT_REQUEST_ID:
                continue  # shipped with the first invocation's recap (take); workers' are not
            reason, check_at = check(inv, self, handoff_s, now)
            if reason is None and now >= inv.touched_at + stale_s:
                reason = "stale"
            if reason is None:
                wake = min(wake, check_at or wake, inv.touched_at + stale_s)
                continue
            if inv.completed_at is None:
                inv.completed_at = inv.touched_at if reason == "handoff" else now
            done.append((inv.request_id, reason))
        return done, wake

    # ----------------------------------------------------------------------------- output

    def take(self, request_id: str, *, status: str | None = None,
             deadline_passed: bool = False) -> list[EncodedRecap]:
        """The recaps to ship now: the init recap (once, if it has calls) and R's (if R is a
        worker's init phase, only if it has calls).

        `status` overrides what the data says (SHUTDOWN with reason timeout/failure).
        """
        with self._cond:
            recaps = self._take_init()
            inv = self._open.pop(request_id, None)
            if inv is not None:
                self._remember(request_id)
                if inv.phase == "invoke" or inv.has_calls:
                    recaps.append(self._build(inv, status, deadline_passed))
            return recaps

    def take_all(self, current: str | None = None,
                 status: str | None = None) -> list[EncodedRecap]:
        """Everything still open (SHUTDOWN): `status` applies to `current` only, and to an init
        phase that never ended (which, absent a reason, is a `failure`: it did not complete)."""
        with self._cond:
            unfinished_init = status or "failure"
            recaps = self._take_init(unfinished_init)
            now_us = self._wall_us()
            for inv in list(self._open.values()):
                del self._open[inv.request_id]
                self._remember(inv.request_id)
                if inv.invoked or inv.has_calls:
                    passed = inv.deadline_us is not None and now_us >= inv.deadline_us
                    override = status if inv.request_id == current else None
                    if inv.end is None and inv.phase == "init":
                        override = unfinished_init
                    recaps.append(self._build(inv, override, passed))
            return recaps

    def take_init(self) -> list[EncodedRecap]:
        """The classic init recap, once (a failed init ships on its own: `on_init_failed`)."""
        with self._cond:
            return self._take_init()

    def _take_init(self, unfinished: str | None = None) -> list[EncodedRecap]:
        """The classic init recap, once; `unfinished` is its status if its `end` never came."""
        if self._init_settled:
            return []
        self._init_settled = True
        inv = self._open.pop(wire.INIT_REQUEST_ID, None)
        self._remember(wire.INIT_REQUEST_ID)
        if inv is None or not inv.has_calls:
            return []
        return [self._build(inv, unfinished if inv.end is None else None, False)]

    def _build(self, inv: Invocation, status: str | None,
               deadline_passed: bool) -> EncodedRecap:
        now_us = self._wall_us()
        if status == "timeout" and inv.deadline_us is not None:
            now_us = min(now_us, inv.deadline_us)
        if inv.end is not None and inv.received < inv.end["calls"]:
            inv.dropped["notReceived"] += inv.end["calls"] - inv.received
        inv.count_unfinished()
        outcome = resolve_outcome(inv, now_us, status, deadline_passed)
        inv.function_arn = inv.function_arn or self.function_arn  # an init names none
        carried: Counter[str] = Counter()
        hint = None
        if inv.phase == "invoke":
            carried, self._carried = self._carried, Counter()
            if not self.internal_active and not self._hint_given:
                hint = HINT_SILENT if self.wrapper_set else HINT_NO_WRAPPER
                self._hint_given = True
        held_since = inv.completed_at if inv.completed_at is not None else self._clock()
        context = Context(self.function_name, self.function_version, carried,
                          (self._clock() - held_since) * 1000, hint,
                          findings=self.findings, facts=self.facts, levels=self.levels,
                          tenant_id=self.tenant_id)
        return build_recap(inv, outcome, context)


def _encoded(message: Message) -> EncodedCall | None:
    """A `call` message's recap call; None for other kinds, and for a call whose values no
    real call has (a clock beyond any calendar): counted as unusable, never the batch."""
    if message["k"] != "call":
        return None
    try:
        return EncodedCall(message["call"])
    except Exception:
        return None


def _encoded_rows(rows: wire.Rows) -> list[EncodedCall | None]:
    """`_encoded` for each of `rows`, in one loop; each shape is read once for all its rows."""
    shapes = rows.shapes
    parts = {index: _shape_parts(shapes[index]) for index in {row[0] for row in rows.rows}}
    of_row = EncodedCall.of_row
    encoded: list[EncodedCall | None] = []
    for row in rows.rows:
        shape = parts[row[0]]
        try:
            encoded.append(of_row(shape, row) if shape is not None else
                           EncodedCall(rows.call(row)))
        except Exception:
            encoded.append(None)
    return encoded


def _shape_parts(shape: dict[str, Any] | None) -> ShapeParts | None:
    """The shape's parts, or None to encode its rows one by one (a shape that holds an
    outcome, or one whose values no real call has)."""
    if shape is None:  # (a row names a checked shape)
        return None
    try:
        parts = ShapeParts(shape)
    except Exception:
        return None
    return parts if parts.plain else None


def _text(value: Any) -> str | None:
    """A telemetry or event field that must be a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def _trace_value(tracing: Any) -> str | None:
    if isinstance(tracing, dict) and isinstance(tracing.get("value"), str):
        return str(tracing["value"])
    return None
