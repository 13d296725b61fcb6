"""Sandbox configuration: the function's settings and the platform's constants (dev-time process).

`FunctionConfig` is what a caller gives the sandbox: the same knobs a Lambda function has
(code, handler, layers, environment, timeout, memory). The constants below are the values
Lambda shows a function: its ARN, version, account, runtime version; none of them reaches AWS.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from httprecap.errors import HttprecapError, UsageError
from httprecap.sandbox.log_levels import (
    DEFAULT_LEVEL,
    SYSTEM_LEVELS,
    LogSettings,
    parse_format,
    parse_level,
)

FUNCTION_VERSION = "$LATEST"
ACCOUNT_ID = "012345678912"
DEFAULT_REGION = "us-east-1"
INIT_TYPE = "on-demand"
MANAGED_INIT_TYPE = "lambda-managed-instances"

# Bounds Lambda itself enforces on a function configuration; the minimum is also the default.
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
# On Lambda Managed Instances an environment has at least one vCPU and 2 to 8 GiB per vCPU
# (the capacity provider's ExecutionEnvironmentMemoryGiBPerVCpu, AWS Lambda API reference), and
# at most 32 GiB: 2 GiB is the least memory such a function can have, and the default here.
MANAGED_MIN_MEMORY_MB, MANAGED_MAX_MEMORY_MB = 2048, 32768
MAX_TIMEOUT_S = 900.0

# Lambda's extension limit (internal + external agents), RAPID's MaxAgentsAllowed.
MAX_AGENTS = 10

# Workers one Lambda Managed Instances environment may run; the sandbox's own sanity bound.
MAX_CONCURRENCY = 64

# Body limit of the Runtime API: 6 MiB plus 100 bytes, as RAPID counts it.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100


@dataclass(frozen=True)
class FunctionConfig:
    """One function as the sandbox runs it.

    Example::

        FunctionConfig(code_dir=Path("examples/hello"), handler="app.handler",
                       layers=[Path("dist/httprecap-layer.zip")],
                       env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper"})
    """

    code_dir: Path
    handler: str
    layers: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 3.0
    # None: Lambda's least, 128 MB, or on Lambda Managed Instances 2048 MB (see memory_size_mb).
    memory_mb: int | None = None
    function_name: str = "httprecap-fn"
    freeze: bool = True
    init_timeout_s: float = 10.0
    python: str = sys.executable
    region: str = DEFAULT_REGION
    # False answers Telemetry API subscriptions the way AWS SAM local / the classic RIE does.
    telemetry_supported: bool = True
    # Lambda Managed Instances: this many invocations at once in one environment (awslambdaric
    # forks as many workers). None is classic Lambda, one invocation at a time.
    max_concurrency: int | None = None
    # LoggingConfig: `text` or `json` (None: Text, or JSON on Lambda Managed Instances, which
    # allow nothing else), and the two levels the JSON format filters by (None: INFO).
    log_format: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    # A function in tenant-isolation mode: the tenant every invocation is for.
    tenant_id: str | None = None

    @property
    def managed_instances(self) -> bool:
        return self.max_concurrency is not None

    @property
    def memory_size_mb(self) -> int:
        """The memory size the environment gets: the one given, else the mode's least."""
        if self.memory_mb is not None:
            return self.memory_mb
        return MANAGED_MIN_MEMORY_MB if self.managed_instances else MIN_MEMORY_MB

    @property
    def logging(self) -> LogSettings:
        """The logging configuration as Lambda applies it (call validate() first)."""
        if self.log_format is None:
            log_format = "JSON" if self.managed_instances else "Text"
        else:
            log_format = parse_format(self.log_format)
        return LogSettings(log_format, parse_level(self.application_log_level or DEFAULT_LEVEL),
                           parse_level(self.system_log_level or DEFAULT_LEVEL, SYSTEM_LEVELS))

    @property
    def init_type(self) -> str:
        """`initializationType` of the telemetry and AWS_LAMBDA_INITIALIZATION_TYPE."""
        return MANAGED_INIT_TYPE if self.managed_instances else INIT_TYPE

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def python_version(self) -> tuple[int, int]:
        return interpreter_version(self.python)

    @property
    def runtime_version(self) -> str:
        major, minor = self.python_version
        return f"python:{major}.{minor}.v1"

    @property
    def runtime_version_arn(self) -> str:
        # Shaped like Lambda's (a 64-hex digest); the digest here is a fixed placeholder.
        return f"arn:aws:lambda:{self.region}::runtime:" + "0" * 56 + "5a4d8e0c"


def validate(config: FunctionConfig) -> None:
    """Raise UsageError for a configuration Lambda would refuse, naming the bad value."""
    if not config.code_dir.is_dir():
        raise UsageError(f"code directory not found: {config.code_dir}")
    for layer in config.layers:
        if not layer.exists():
            raise UsageError(f"layer not found: {layer}")
    if "." not in config.handler:
        raise UsageError(f"handler must be MODULE.FUNCTION, got {config.handler!r}")
    if not 0 < config.timeout_s <= MAX_TIMEOUT_S:
        raise UsageError(f"timeout must be from 0 to {MAX_TIMEOUT_S:g} seconds")
    low, high = ((MANAGED_MIN_MEMORY_MB, MANAGED_MAX_MEMORY_MB) if config.managed_instances
                 else (MIN_MEMORY_MB, MAX_MEMORY_MB))
    if not low <= config.memory_size_mb <= high:
        where = " on Lambda Managed Instances" if config.managed_instances else ""
        raise UsageError(f"memory must be from {low} to {high} MB{where}")
    if config.init_timeout_s <= 0:
        raise UsageError("init timeout must be positive")
    if config.max_concurrency is not None and not 1 <= config.max_concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"max concurrency must be from 1 to {MAX_CONCURRENCY}")
    _validate_logging(config)
    if config.tenant_id is not None and not config.tenant_id.strip():
        raise UsageError("tenant id must not be empty")
    interpreter_version(config.python)


def _validate_logging(config: FunctionConfig) -> None:
    """As Lambda's LoggingConfig: levels only with the JSON format, JSON only on Managed
    Instances."""
    settings = config.logging  # raises UsageError for an unknown format or level
    if settings.json:
        return
    if config.managed_instances:
        raise UsageError("Lambda Managed Instances only support the json log format")
    if config.application_log_level or config.system_log_level:
        raise UsageError("log levels apply only with the json log format (--log-format json)")


@lru_cache(maxsize=8)
def interpreter_version(python: str) -> tuple[int, int]:
    """(major, minor) of the interpreter that plays /var/lang/bin/python3.X."""
    if Path(python).resolve() == Path(sys.executable).resolve():
        return sys.version_info[0], sys.version_info[1]
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        major, minor = out.split()
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise HttprecapError(f"cannot run the interpreter {python}: {exc}") from exc
    return int(major), int(minor)
