"""Aggregate: what a fleet query groups recaps by, and the level Lambda's log settings read
(extension process).

A query across many functions groups by function, alias, region, account, memory size,
architecture, runtime and tenant. Most of it is the same for every invocation of an
environment and is read once (`FunctionFacts`): memory and region from the variables Lambda
gives extensions, the architecture from the machine, the runtime from the interpreter (the
extension runs on the runtime's own /var/lang/bin/python3; AWS_EXECUTION_ENV is for the
runtime only). The rest comes with each invocation: the ARN it was invoked by (the INVOKE
event's `invokedFunctionArn`, or `functionArn` in `platform.start` on Lambda Managed
Instances), which names the region, the account and the alias; and the tenant of a function
in tenant-isolation mode (`tenantId` in the function process's `end`, which has it from
awslambdaric, and in the Telemetry API's platform events; the INVOKE event does not carry it,
and an environment serves one tenant only, so the first one named holds for every later recap:
see store.py).

`level` and `timestamp` are what Lambda's JSON log format reads from a JSON line on stdout:
with an application log level of WARN, a line whose `level` is INFO (or missing) is dropped.
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# Recap statuses that make an invocation's recap notable for its level.
ERROR_STATUSES = ("error", "timeout", "failure")
# Lambda's names for the machine's architecture (the function's `Architectures`).
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_ARN_PARTS = 7  # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]


class FunctionFacts:
    """What is the same for every recap of this environment."""

    __slots__ = ("architecture", "memory_size_mb", "region", "runtime")

    def __init__(self, region: str | None = None, memory_size_mb: int | None = None,
                 architecture: str | None = None, runtime: str | None = None) -> None:
        self.region = region
        self.memory_size_mb = memory_size_mb
        self.architecture = architecture
        self.runtime = runtime

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FunctionFacts:
        import os  # already loaded; `platform` would load `re` at start-up
        import sys

        memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        return cls(region=environ.get("AWS_REGION") or None,
                   memory_size_mb=int(memory) if memory.isdigit() else None,
                   architecture=ARCHITECTURES.get(os.uname().machine.lower()),
                   runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}")


def level_of(status: str | None, failed_calls: int, levels: tuple[str, str]) -> str:
    """The recap's `level`: `levels[1]` for an invocation that failed or made a failed call,
    `levels[0]` for the others."""
    notable = status in ERROR_STATUSES or failed_calls > 0
    return levels[1] if notable else levels[0]


def unqualified(arn: str | None) -> str | None:
    """The function's ARN without its alias or version: what an init recap, which no
    invocation names, has of it."""
    return ":".join(arn.split(":")[:_ARN_PARTS]) if arn else None


def context_fields(facts: FunctionFacts, arn: str | None,
                   tenant_id: str | None) -> dict[str, Any]:
    """The grouping fields of one recap, in schema order; a field nothing told is left out
    (`tenantId` is there only for a function in tenant-isolation mode)."""
    fields: dict[str, Any] = {}
    parts = arn.split(":") if arn else []
    if len(parts) >= _ARN_PARTS and parts[0] == "arn" and parts[2] == "lambda":
        fields["functionArn"] = arn
        if len(parts) > _ARN_PARTS and not parts[_ARN_PARTS].isdigit() \
                and parts[_ARN_PARTS] != "$LATEST":
            fields["alias"] = parts[_ARN_PARTS]
        fields["region"] = parts[3] or facts.region
        fields["accountId"] = parts[4]
    elif facts.region:
        fields["region"] = facts.region
    for name, value in (("memorySizeMB", facts.memory_size_mb),
                        ("architecture", facts.architecture), ("runtime", facts.runtime),
                        ("tenantId", tenant_id)):
        if value is not None:
            fields[name] = value
    return {name: value for name, value in fields.items() if value}
