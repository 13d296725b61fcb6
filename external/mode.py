"""Lifecycle: how this environment runs the extension, read once at launch (extension process).

Classic Lambda sends external extensions INVOKE and SHUTDOWN, one invocation at a time.
Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`) run
several invocations at once in one environment and send external extensions SHUTDOWN only
(registering for INVOKE is refused with 403 `Extension.InvalidEventType`), and their Telemetry
API accepts schema 2025-01-29 only (docs/PROTOCOL.md, 7).

Whether our wrapper is set matters too: extensions see the function's variables, so we know
whether the function process will hand each invocation's end over to us.
"""

from __future__ import annotations

import os

from httprecap.external.aggregate.store import MAX_OPEN as CLASSIC_MAX_OPEN
from httprecap.external.lambda_api.telemetry import (
    PROMPT_BUFFERING_MS,
    RELAXED_BUFFERING_MS,
    SCHEMA_VERSION,
)

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping

MANAGED_INIT_TYPE = "lambda-managed-instances"
MANAGED_SCHEMA = "2025-01-29"
CLASSIC_EVENTS = ("INVOKE", "SHUTDOWN")
MANAGED_EVENTS = ("SHUTDOWN",)
WRAPPER_NAME = "httprecap-wrapper"
# Invocations open at once: LMI runs up to 64 per vCPU; past this the oldest are evicted.
MANAGED_MAX_OPEN = 4096


class Mode:
    """Classic Lambda or Lambda Managed Instances, with or without our wrapper (immutable)."""

    __slots__ = ("managed", "wrapper_set")

    managed: bool
    wrapper_set: bool

    def __init__(self, *, managed: bool, wrapper_set: bool) -> None:
        object.__setattr__(self, "managed", managed)
        object.__setattr__(self, "wrapper_set", wrapper_set)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Mode is immutable: cannot set {name}")

    def __repr__(self) -> str:
        return f"Mode(managed={self.managed}, wrapper_set={self.wrapper_set})"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Mode:
        managed = environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == MANAGED_INIT_TYPE
        wrapper = os.path.basename(environ.get("AWS_LAMBDA_EXEC_WRAPPER", "")) == WRAPPER_NAME
        return cls(managed=managed, wrapper_set=wrapper)

    @property
    def events(self) -> tuple[str, ...]:
        """The events to register for."""
        return MANAGED_EVENTS if self.managed else CLASSIC_EVENTS

    @property
    def schema(self) -> str:
        """The Telemetry API schema version to subscribe with."""
        return MANAGED_SCHEMA if self.managed else SCHEMA_VERSION

    @property
    def telemetry_buffering_ms(self) -> int:
        """How long Lambda may hold telemetry for us (see lambda_api/telemetry.py).

        Relaxed only where the function process's hand-off tells when each invocation ends:
        our wrapper is set, on classic Lambda. Without it `runtimeDone` is that signal, and on
        Lambda Managed Instances `platform.start` is what says an invocation exists at all.
        """
        if self.wrapper_set and not self.managed:
            return RELAXED_BUFFERING_MS
        return PROMPT_BUFFERING_MS

    @property
    def telemetry_prompt(self) -> bool:
        """Telemetry comes with the shortest buffering Lambda allows."""
        return self.telemetry_buffering_ms == PROMPT_BUFFERING_MS

    @property
    def max_open(self) -> int:
        return MANAGED_MAX_OPEN if self.managed else CLASSIC_MAX_OPEN
