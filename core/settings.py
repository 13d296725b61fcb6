"""Settings: every HTTPRECAP_* variable, defined and parsed in one place (runs in every process).

Both halves of the layer (the function process and the extension process) read their
configuration from the function's environment through `Settings.from_environ`. A malformed
value never stops anything: it is replaced by its default and reported in `Settings.warnings`,
which each process prints once at start, so a typo costs the user a warning, not their function.
"""

from __future__ import annotations

import os

# Layer start-up budget: `typing` and `dataclasses` (which imports `inspect` and `ast`) cost
# tens of milliseconds in a fresh interpreter, so layer code names types only for mypy.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

PREFIX = "HTTPRECAP_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Setting:
    """One documented variable: its name, default, parser, and the sentence the docs show."""

    __slots__ = ("default", "doc", "name", "parse")

    def __init__(self, name: str, default: Any, parse: Callable[[str], Any], doc: str) -> None:
        self.name, self.default, self.parse, self.doc = name, default, parse, doc


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def is_true(raw: str | None) -> bool:
    """Whether a switch's raw value reads as true, for the one switch sitecustomize needs
    before `Settings.from_environ` runs: a malformed value is false, every switch's default
    (the warning about it is for `from_environ` to give, once)."""
    return raw is not None and raw.strip().lower() in _TRUE


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return value

    return parse


def _port(raw: str) -> int:
    value = _bounded_int(1, 65535)(raw)
    if value == 9001:
        raise ValueError("port 9001 is reserved by Lambda")
    return value


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _headers(raw: str) -> tuple[tuple[str, str], ...]:
    """`Name=value,Other=value` (the OTEL_EXPORTER_OTLP_HEADERS convention)."""
    pairs = []
    for number, part in enumerate(_csv(raw), 1):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            # The part is not shown: it may be a credential without its name.
            raise ValueError(f"expected Name=value pairs separated by commas; part {number} "
                             "is not one")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def _text(raw: str) -> str:
    return raw.strip()


_LOG_LEVELS = ("debug", "info", "warning", "error")
_KEEP_MODES = ("all", "notable")


def _keep(raw: str) -> str:
    value = raw.strip().lower()
    if value not in _KEEP_MODES:
        raise ValueError("expected all or notable")
    return value


# The findings' kinds (docs/FINDINGS.md), as HTTPRECAP_FINDINGS_OFF names them.
FINDING_KINDS = ("repeated-call", "identical-call", "sequential-calls", "retries", "no-timeout",
                 "new-connection", "slow-call", "large-payload", "after-response", "http-bound")


def _finding_kinds(raw: str) -> tuple[str, ...]:
    kinds = tuple(kind.lower() for kind in _csv(raw))
    unknown = [kind for kind in kinds if kind not in FINDING_KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; expected some of "
                         f"{', '.join(FINDING_KINDS)}")
    return kinds


def _bounded_float(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not low <= value <= high:  # (NaN fails too)
            raise ValueError(f"expected a number from {low:g} to {high:g}")
        return value

    return parse


# The levels Lambda's log-level filtering knows (LoggingConfig ApplicationLogLevel), least
# severe first.
LAMBDA_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def _lambda_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in LAMBDA_LEVELS:
        raise ValueError(f"expected one of {', '.join(LAMBDA_LEVELS)}")
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().lower()
    if value not in _LOG_LEVELS:
        raise ValueError("expected debug, info, warning or error")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("DISABLED", False, _parse_bool,
            "Turn httprecap off: the wrapper only execs the runtime, the extension idles."),
    Setting("NEXT_WRAPPER", "", _text,
            "Another layer's exec wrapper to chain to (AWS_LAMBDA_EXEC_WRAPPER takes one value)."),
    Setting("CAPTURE_SUBPROCESSES", False, _parse_bool,
            "Also capture in Python subprocesses the function starts."),
    Setting("CAPTURE_HEADERS", False, _parse_bool,
            "Record request/response header values (secret headers stay masked)."),
    Setting("CAPTURE_BODIES", False, _parse_bool,
            "Record request/response bodies, truncated to HTTPRECAP_BODY_MAX_BYTES."),
    Setting("BODY_MAX_BYTES", 2048, _bounded_int(0, 65536),
            "Cap per captured body; longer bodies end with a truncation marker."),
    Setting("REDACT", (), _csv,
            "Extra regular expressions (comma-separated) for query, header and body field names "
            "to mask."),
    Setting("PORT", 9399, _port,
            "Loopback port of the extension's collector (function process -> extension)."),
    Setting("TELEMETRY_PORT", 9398, _port,
            "Port the extension listens on for the Lambda Telemetry API."),
    Setting("SINKS", ("stdout",), _csv,
            "Where recaps go: stdout, emf, file://PATH, http(s)://URL, kinesis://STREAM, "
            "firehose://STREAM, otlp+http://HOST:PORT (comma-separated)."),
    Setting("HTTP_HEADERS", (), _headers,
            "Headers for the http(s) sink, as Name=value pairs separated by commas."),
    Setting("SHIP_BUDGET_MS", 50, _bounded_int(1, 10000),
            "Longest time shipping may hold an invocation; the rest is retried later."),
    Setting("HANDOFF_TIMEOUT_MS", 200, _bounded_int(1, 10000),
            "How long the extension waits for the function's end-of-invocation hand-off after "
            "the runtime is done."),
    Setting("BUFFER_RECORDS", 20000, _bounded_int(100, 1_000_000),
            "Records the function process holds before dropping (drops are counted)."),
    Setting("MAX_CALLS_PER_RECAP", 20000, _bounded_int(1, 1_000_000),
            "Calls kept in one recap; beyond it calls are counted in `dropped`."),
    Setting("RETRY_QUEUE", 1000, _bounded_int(0, 100_000),
            "Recaps kept for retry when a sink fails; beyond it the oldest are dropped "
            "and counted."),
    Setting("KEEP", "all", _keep,
            "Which recaps ship their calls: all, or notable (an error, a failed call, a finding, "
            "or a duration over HTTPRECAP_KEEP_SLOW_MS); the others ship compact, without calls."),
    Setting("KEEP_SLOW_MS", 1000, _bounded_int(0, 900_000),
            "With HTTPRECAP_KEEP=notable, an invocation longer than this (ms) ships its calls."),
    Setting("FINDINGS", True, _parse_bool,
            "Say what the calls mean: the recap's findings (docs/FINDINGS.md); 0 turns them off."),
    Setting("FINDINGS_OFF", (), _finding_kinds,
            "Kinds of finding to leave out, comma-separated (e.g. http-bound,slow-call)."),
    Setting("FINDINGS_REPEATED_MIN", 5, _bounded_int(2, 1_000_000),
            "repeated-call: calls to one endpoint in an invocation that make a finding."),
    Setting("FINDINGS_IDENTICAL_MIN", 2, _bounded_int(2, 1_000_000),
            "identical-call: times the same GET is made in an invocation that make a finding."),
    Setting("FINDINGS_SEQUENTIAL_MS", 100, _bounded_int(0, 900_000),
            "sequential-calls: least time (ms) running the calls concurrently would save."),
    Setting("FINDINGS_SEQUENTIAL_SHARE", 0.1, _bounded_float(0.0, 1.0),
            "sequential-calls: least share of the invocation's duration it would save."),
    Setting("FINDINGS_RETRY_STORM_SHARE", 0.5, _bounded_float(0.0, 1.0),
            "retries: share of an invocation's calls that retried that makes a storm."),
    Setting("FINDINGS_SLOW_MS", 100, _bounded_int(0, 900_000),
            "slow-call: a call shorter than this (ms) is never slow."),
    Setting("FINDINGS_SLOW_FACTOR", 3.0, _bounded_float(1.0, 1000.0),
            "slow-call: how many times its endpoint's usual p90 a call must take."),
    Setting("FINDINGS_LARGE_BYTES", 1_048_576, _bounded_int(1, 1 << 40),
            "large-payload: a request or response body of this many bytes or more."),
    Setting("FINDINGS_HTTP_SHARE", 0.8, _bounded_float(0.0, 1.0),
            "http-bound: least share of the invocation spent waiting on HTTP."),
    Setting("FINDINGS_HTTP_MS", 100, _bounded_int(0, 900_000),
            "http-bound: an invocation shorter than this (ms) is never http-bound."),
    Setting("EMF_TOP", 10, _bounded_int(0, 100),
            "emf sink: hosts and AWS operations that get metrics of their own per recap (the "
            "busiest by calls); the rest are summed under `other`."),
    Setting("RECAP_LEVEL", "INFO", _lambda_level,
            "`level` of a recap whose invocation succeeded without a failed call; with Lambda's "
            "JSON log format, an application log level above it drops such recaps."),
    Setting("RECAP_ERROR_LEVEL", "WARN", _lambda_level,
            "`level` of a recap whose invocation failed (error, timeout, failure) or made a "
            "failed call."),
    Setting("LOG_LEVEL", "warning", _log_level,
            "httprecap's own log level: debug, info, warning or error."),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def _ignored(setting: Setting, raw: str, error: ValueError) -> str:
    """The warning for a malformed value, redacted as records are (the value, which the
    parser's error may repeat, can hold a key); HTTPRECAP_HTTP_HEADERS's values, credentials
    even without a sensitive name, are never shown."""
    shown = "<not shown>" if setting.name == "HTTP_HEADERS" else repr(raw)
    warning = (f"{PREFIX}{setting.name}={shown} ignored ({error}); "
               f"using the default {setting.default!r}")
    from httprecap.redact import Redactor  # loaded only when a value is malformed

    return Redactor().text(warning, limit=1000)


class Settings:
    """Parsed configuration. Attribute names are the variable names without the prefix, lowered."""

    __slots__ = ("values", "warnings")

    def __init__(self, values: Mapping[str, Any], warnings: tuple[str, ...] = ()) -> None:
        self.values = values
        self.warnings = warnings

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        warnings: list[str] = []
        for setting in SETTINGS:
            raw = env.get(PREFIX + setting.name)
            values[setting.name] = setting.default
            if raw is None:
                continue
            try:
                values[setting.name] = setting.parse(raw)
            except ValueError as exc:
                warnings.append(_ignored(setting, raw, exc))
        for key in env:
            if key.startswith(PREFIX) and key[len(PREFIX):] not in _BY_NAME:
                warnings.append(f"{key} is not an httprecap setting; ignored")
        return cls(values=values, warnings=tuple(warnings))
