"""Transport: the bounded buffer between the user's threads and the sender (function process).

It is capture's `Sink` (transport/record.py): capture is given it once at start-up and hands
it each finished call's record.

Writers (the user's threads, at the end of each call) only append to a deque, which is atomic
in CPython: no lock on the hot path. When the buffer holds ``capacity`` items a call is dropped
and counted under ``bufferFull``; the counts travel in the next `end` message. Control
messages (an invocation's `end`) are never dropped: there is at most one per invocation.

A helper process (a child the function started for an invocation) uses `PromptBuffer`: each
finished call is handed over before the call returns to its caller, so a child that is killed
(``Pool.terminate()`` sends SIGTERM) or exits without running atexit has lost nothing it
finished, and a child that finished before the handler returned has its calls in the recap.
"""

from __future__ import annotations

import threading
from collections import deque

from httprecap.internal.transport.record import End, Record

TYPE_CHECKING = False  # start-up budget: `typing` names are for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable

BUFFER_FULL = "bufferFull"


class Buffer:
    """FIFO of finished calls and control messages, plus the table of calls in flight."""

    def __init__(self, capacity: int, batch_size: int) -> None:
        self.capacity = capacity
        self.batch_size = batch_size
        # The length from which `put_call` looks further (full, or a batch's worth).
        self.crowded = min(capacity + 1, batch_size)
        # Records, `End` markers, and the sender's `end`s to post again (sender.py).
        self.items: deque[object] = deque()
        # Calls in flight that no thread's slot holds (the sender asks capture for the others).
        self.inflight: set[Record] = set()
        self.sender_idle = False
        self.urgent = False  # post at once: an invocation ended, a batch is full, a flush
        self.event = threading.Event()
        self._dropped: dict[str, int] = {}
        self._lock = threading.Lock()  # drop counts only: the rare path

    def put_call(self, call: Record) -> None:
        items = self.items
        items.append(call)
        if len(items) >= self.crowded:
            self._crowd(items)
        elif self.sender_idle:
            self.event.set()

    def _crowd(self, items: deque[object]) -> None:
        """A call was appended to a buffer holding a batch's worth or more: past its capacity,
        the newest call goes (and is counted); else the sender posts at once."""
        if len(items) > self.capacity:
            try:
                newest = items.pop()  # (maybe another thread's call: one goes all the same)
            except IndexError:  # the sender took them all meanwhile: nothing to drop
                return
            if isinstance(newest, Record):
                self.drop(BUFFER_FULL)
            else:  # an `end` queued meanwhile, never dropped: one call over capacity instead
                items.append(newest)
        if len(items) >= self.batch_size:
            self.urgent = True
            self.event.set()

    def put_control(self, message: End) -> None:
        self.items.append(message)
        self.urgent = True
        self.event.set()

    def watch(self) -> None:
        """Wake an idle sender to watch the calls that started (it posts only when due)."""
        self.event.set()

    def wake(self) -> None:
        """Post whatever is pending now."""
        self.urgent = True
        self.event.set()

    def drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count

    def take_dropped(self) -> dict[str, int]:
        """The drop counts since the last call, reset."""
        with self._lock:
            dropped, self._dropped = self._dropped, {}
        return dropped


class PromptBuffer(Buffer):
    """A helper process's buffer: `put_call` waits (up to `wait_s`) until the sender has
    handed the call over. A child is rare, and its calls must outlive it."""

    def __init__(self, capacity: int, batch_size: int, wait_s: float) -> None:
        super().__init__(capacity, batch_size)
        self.wait_s = wait_s
        self.flush: Callable[[float], object] | None = None  # the sender's, once it exists

    def put_call(self, call: Record) -> None:
        super().put_call(call)
        flush = self.flush
        if flush is not None:
            flush(self.wait_s)
