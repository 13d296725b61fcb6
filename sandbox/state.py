"""Shared state of one execution environment: what the APIs and the lifecycle meet on
(dev-time sandbox process).

The HTTP handlers (runtime, extensions, telemetry) and the lifecycle controller run in
different threads and hand things to each other here, under one condition variable:
`Platform.cond`. Handlers of long polls (`/next`, `/event/next`) wait on it for something to
hand out; the controller waits on it for the runtime's response, the agents' next calls, or a
`Failure`. One `Instance` lives from an init to the reset or shutdown that ends it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from httprecap.sandbox.config import FunctionConfig
from httprecap.sandbox.processes import ManagedProcess
from httprecap.sandbox.telemetry_delivery import TelemetryHub

RuntimeState = Literal["starting", "idle", "busy", "replied"]


@dataclass(frozen=True)
class Failure:
    """Why an environment cannot go on: becomes the caller's error and the telemetry status."""

    error_type: str
    message: str
    status: str = "error"
    # The exact body Lambda returns to the caller (the runtime's /init/error), when there is one.
    payload: bytes | None = None


@dataclass
class Agent:
    """A registered extension (RAPID calls them agents)."""

    name: str
    external: bool
    events: tuple[str, ...]
    identifier: str = field(default_factory=lambda: str(uuid.uuid4()))
    pending: deque[bytes] = field(default_factory=deque)
    waiting: bool = False  # blocked in /event/next with nothing to hand out
    called_next: bool = False
    errored: bool = False
    next_at: float = 0.0

    @property
    def idle(self) -> bool:
        return self.waiting and not self.pending


@dataclass
class Invocation:
    """One invoke as the runtime sees it, with the moments RAPID's spans are made of."""

    request_id: str
    body: bytes
    deadline_ms: int
    trace_id: str | None
    handed_at: float | None = None  # perf_counter when /next returned the event
    handed_epoch: float = 0.0
    response_started: float | None = None
    response_started_epoch: float = 0.0
    responded_at: float | None = None
    responded_epoch: float = 0.0
    runtime_next_at: float | None = None
    runtime_next_epoch: float = 0.0
    response: bytes | None = None
    content_type: str = "application/json"
    function_error: str | None = None
    error_type: str | None = None


@dataclass
class RuntimeSlot:
    state: RuntimeState = "starting"
    pending: Invocation | None = None
    current: Invocation | None = None
    process: ManagedProcess | None = None
    first_next_at: float | None = None
    # Lambda Managed Instances: any worker's /next takes the oldest queued invocation, and
    # several are under way at once, found by request id.
    queue: deque[Invocation] = field(default_factory=deque)
    active: dict[str, Invocation] = field(default_factory=dict)


class Instance:
    """One initialised (or initialising) environment: processes, agents, runtime."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.registration_open = True
        self.subscriptions_open = True
        self.launched: dict[str, ManagedProcess] = {}
        self.agents: dict[str, Agent] = {}
        self.runtime = RuntimeSlot()
        self.failure: Failure | None = None
        self.closing = False  # exits are expected from now on
        self.closed = False   # every long poll must give up
        self.peak_rss = 0
        self.frozen = False

    def agent_named(self, name: str) -> Agent | None:
        return next((agent for agent in self.agents.values() if agent.name == name), None)

    def processes(self) -> list[ManagedProcess]:
        found = list(self.launched.values())
        if self.runtime.process is not None:
            found.append(self.runtime.process)
        return found

    def has_external_agents(self) -> bool:
        return any(agent.external for agent in self.agents.values())

    def invoke_agents(self) -> list[Agent]:
        return [agent for agent in self.agents.values() if "INVOKE" in agent.events]

    def fail(self, failure: Failure) -> None:
        """Keep the first failure only: later ones are consequences of it."""
        if self.failure is None and not self.closing:
            self.failure = failure


class Platform:
    """What every API handler needs: the configuration, the current instance, telemetry."""

    def __init__(self, config: FunctionConfig, telemetry: TelemetryHub) -> None:
        self.config = config
        self.telemetry = telemetry
        self.cond = threading.Condition()
        self.instance: Instance | None = None
        self.api_address = ""

    def now(self) -> float:
        return time.perf_counter()
