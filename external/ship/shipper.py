"""Ship: hands recaps to every sink within the ship budget, retries the rest (extension process).

Each sink has a worker thread that owns that sink's queue. The run loop hands the new recaps
to every worker and waits at most HTTPRECAP_SHIP_BUDGET_MS for them; a slow or failing sink
only delays itself. A sink that can take them without waiting (stdout, when its pipe has
room) gets them on the run loop's thread instead, while its worker is idle: no hand-over.
What a sink has not delivered stays in its queue (HTTPRECAP_RETRY_QUEUE recaps at most;
beyond it the oldest are dropped and counted as `sinkRetryQueueFull`) and is sent on the
next round: the next invocation, or SHUTDOWN. Only the worker removes an entry,
and only once the sink accepted it, so a sink that recovers never gets a recap twice.

Workers send only while the run loop is waiting for them (until the round's deadline); a send
already under way finishes on its own time. A failure ends the sink's round and the sink rests
(exponential backoff), so a sink that is down does not cost every invocation its whole budget;
SHUTDOWN ignores the rest and tries once more.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from httprecap.external import log
from httprecap.external.ship.sink_base import Entry

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.ship.sink_base import Sink
    from httprecap.recap_schema import Recap


class Backoff:
    def __init__(self, base: float = 0.25, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap

    def delay(self, failures: int) -> float:
        return min(self.base * 2.0 ** max(failures - 1, 0), self.cap)


class SinkWorker:
    """One sink, its bounded queue, and the thread that sends from it."""

    def __init__(self, sink: Sink, queue_limit: int, backoff: Backoff) -> None:
        self.sink = sink
        self._limit = queue_limit
        self._backoff = backoff
        self._cond = threading.Condition()
        self._pending: deque[Entry] = deque()
        self._in_flight: set[int] = set()
        self._lost = 0
        self._deadline = 0.0
        self._force = False
        self._failures = 0
        self._rest_until = 0.0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"httprecap-ship-{sink.name}",
                                        daemon=True)
        self._thread.start()

    # --------------------------------------------------------------------- run loop side

    def submit(self, entries: list[Entry]) -> None:
        """Queue new entries; the oldest not being sent right now make room for them."""
        with self._cond:
            excess = len(self._pending) + len(entries) - max(self._limit, len(entries))
            if excess > 0:
                self._drop_oldest(excess)
            self._pending.extend(entries)

    def _drop_oldest(self, count: int) -> None:
        kept: deque[Entry] = deque()
        for entry in self._pending:
            if count and id(entry) not in self._in_flight:
                count -= 1
                self._lost += 1
            else:
                kept.append(entry)
        self._pending = kept

    def send_now(self, entries: list[Entry]) -> bool:
        """Deliver `entries` on the calling thread, when nothing is queued or being sent (so
        recaps keep their order), the sink is not resting, and it can take them without
        waiting (`Sink.send_now`); False, having sent nothing, otherwise."""
        with self._cond:
            if (self._pending or self._in_flight or self._stopped
                    or time.monotonic() < self._rest_until):
                return False
            try:
                return self.sink.send_now(entries)
            except Exception as exc:  # the worker will try, and say so if it fails too
                log.debug(f"sink {self.sink.name}: not sent at once: {exc}")
                return False

    def kick(self, deadline: float, force: bool = False) -> None:
        """Send what is queued until `deadline` (monotonic); `force` ignores the backoff."""
        with self._cond:
            self._deadline = max(self._deadline, deadline)
            self._force = self._force or force
            self._cond.notify_all()

    def wait(self, deadline: float) -> None:
        """Return when this round is over (queue empty, sink resting) or at `deadline`."""
        with self._cond:
            while (self._in_flight or self._should_send()) and time.monotonic() < deadline:
                self._cond.wait(max(deadline - time.monotonic(), 0.0))

    def take_lost(self) -> int:
        with self._cond:
            lost, self._lost = self._lost, 0
            return lost

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # ----------------------------------------------------------------------- worker side

    def _should_send(self) -> bool:
        now = time.monotonic()
        return (bool(self._pending) and now < self._deadline
                and (self._force or now >= self._rest_until))

    def _run(self) -> None:
        try:
            self.sink.prepare()
        except Exception as exc:  # the sends will fail and say so; keep the worker alive
            log.warning(f"sink {self.sink.name}: could not prepare: {exc}")
        while True:
            with self._cond:
                while not self._stopped and not self._should_send():
                    self._cond.wait()
                if self._stopped:
                    return
                batch = list(self._pending)[: self.sink.max_batch]
                self._in_flight = {id(entry) for entry in batch}
            kept = self._send(batch)
            with self._cond:
                self._settle(batch, kept)
                self._cond.notify_all()

    def _send(self, batch: list[Entry]) -> list[Entry] | None:
        try:
            return self.sink.send(batch)
        except Exception as exc:  # any failure of a sink is that sink's, never the loop's
            log.warning_once(f"sink:{self.sink.name}", f"sink {self.sink.name} failed: {exc}; "
                             "its recaps are kept for a later attempt")
            return None

    def _settle(self, batch: list[Entry], kept: list[Entry] | None) -> None:
        """Forget what the sink accepted; after a failure end the round and rest."""
        self._in_flight = set()
        if kept is None or len(kept) == len(batch):
            self._failures += 1
            self._rest_until = time.monotonic() + self._backoff.delay(self._failures)
            self._deadline, self._force = 0.0, False  # one attempt per round, not a busy loop
            return
        self._failures = 0
        delivered = {id(entry) for entry in batch} - {id(entry) for entry in kept}
        self._pending = deque(entry for entry in self._pending if id(entry) not in delivered)


class Shipper:
    """Every configured sink, each behind its worker."""

    def __init__(self, sinks: Iterable[Sink], queue_limit: int, backoff: Backoff | None = None,
                 keep: Callable[[EncodedRecap], EncodedRecap] | None = None) -> None:
        self.workers = [SinkWorker(sink, queue_limit, backoff or Backoff()) for sink in sinks]
        self._keep = keep  # HTTPRECAP_KEEP (keep.py); None ships every recap as it is

    def ship(self, recaps: list[EncodedRecap] | list[Recap], budget_s: float) -> None:
        """Hand `recaps` to every sink; return within `budget_s` whatever the sinks do."""
        deadline = time.monotonic() + budget_s
        entries = [self._entry(recap) for recap in recaps]
        for worker in self.workers:
            if not worker.send_now(entries):
                worker.submit(entries)
                worker.kick(deadline)
        for worker in self.workers:
            worker.wait(deadline)

    def _entry(self, recap: EncodedRecap | Recap) -> Entry:
        entry = Entry(recap)
        if self._keep is not None:
            try:
                entry.recap = self._keep(entry.full)
            except Exception as exc:  # a recap ships in full rather than not at all
                log.debug(f"HTTPRECAP_KEEP skipped: {type(exc).__name__}: {exc}")
        return entry

    def flush(self, deadline: float) -> dict[str, int]:
        """Try everything queued once more (SHUTDOWN); return what is still not delivered."""
        for worker in self.workers:
            worker.kick(deadline, force=True)
        for worker in self.workers:
            worker.wait(deadline)
        return {worker.sink.name: worker.pending for worker in self.workers if worker.pending}

    def take_losses(self) -> dict[str, int]:
        """Recaps the retry queues dropped since the last call (for the next recap)."""
        lost = sum(worker.take_lost() for worker in self.workers)
        return {"sinkRetryQueueFull": lost} if lost else {}

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
