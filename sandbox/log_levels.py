"""Logs: Lambda's logging configuration, the function's `LoggingConfig` (dev-time sandbox process).

`LogFormat: Text` (Lambda's default) keeps every line as printed. `LogFormat: JSON` (the only
format on Lambda Managed Instances) changes three things, which `LogSettings` plays:

- the runtime formats its own logging as JSON: Lambda gives it AWS_LAMBDA_LOG_FORMAT=JSON and
  AWS_LAMBDA_LOG_LEVEL (awslambdaric then writes `{"timestamp", "level", "message", ...}` lines
  and sets the root logger to that level; see environ.py);
- application lines (the function's and the extensions' stdout and stderr) below the
  application log level are dropped. A line's level is its JSON `level` key, honoured only with
  a valid RFC 3339 `timestamp`; any other line (plain text included) counts as INFO
  (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>);
- Lambda's own lines are its telemetry events as JSON (`{"time", "type", "record"}`) instead of
  START / END / REPORT text, filtered by the system log level. Which level each event has is in
  SYSTEM_EVENT_LEVELS; the sandbox's lines without an event (a crash's error message, an
  out-of-memory kill) stay as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from httprecap.errors import UsageError

FORMATS = {"text": "Text", "json": "JSON"}
# Lambda's levels, least severe first, and the names Python's logging gives two of them.
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
DEFAULT_LEVEL = "INFO"
# The level of each platform event in the system log. Events not listed are INFO.
SYSTEM_EVENT_LEVELS = {
    "platform.initRuntimeDone": "DEBUG", "platform.runtimeDone": "DEBUG",
    "platform.restoreRuntimeDone": "DEBUG", "platform.extension": "DEBUG",
    "platform.telemetrySubscription": "DEBUG", "platform.logsDropped": "WARN",
}


def parse_format(value: str) -> str:
    """`Text` or `JSON` from any casing; UsageError otherwise."""
    try:
        return FORMATS[value.strip().lower()]
    except KeyError:
        raise UsageError(f"log format must be text or json, got {value!r}") from None


def parse_level(value: str, allowed: tuple[str, ...] = LEVELS) -> str:
    level = value.strip().upper()
    if level not in allowed:
        raise UsageError(f"log level must be one of {', '.join(allowed).lower()}, "
                         f"got {value!r}")
    return level


def rank(level: str) -> int:
    return LEVELS.index(level)


def line_level(text: str) -> str:
    """The level Lambda gives an application line: its JSON `level` (with a valid
    `timestamp`), else INFO."""
    if not text.startswith("{"):
        return DEFAULT_LEVEL
    try:
        fields = json.loads(text)
    except ValueError:
        return DEFAULT_LEVEL
    if not isinstance(fields, dict) or not _is_rfc3339(fields.get("timestamp")):
        return DEFAULT_LEVEL
    level = str(fields.get("level", "")).upper()
    level = ALIASES.get(level, level)
    return level if level in LEVELS else DEFAULT_LEVEL


def _is_rfc3339(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt ":
        return False
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is not None


@dataclass(frozen=True)
class LogSettings:
    """A function's LoggingConfig: LogFormat, ApplicationLogLevel, SystemLogLevel."""

    log_format: str = "Text"
    application_level: str = DEFAULT_LEVEL
    system_level: str = DEFAULT_LEVEL

    @property
    def json(self) -> bool:
        return self.log_format == "JSON"

    def admit(self, source: str, text: str, platform_text: bool = False) -> bool:
        """Whether the line reaches the log: in JSON format an application line at or above
        the application level, and no platform text line that has an event instead."""
        if not self.json:
            return True
        if source == "platform":
            return not platform_text
        return rank(line_level(text)) >= rank(self.application_level)

    def system_line(self, event: dict[str, Any]) -> str | None:
        """A platform event as Lambda's JSON format logs it, or None (text format, a function
        or extension event, or below the system log level)."""
        kind = str(event.get("type", ""))
        if not self.json or not kind.startswith("platform."):
            return None
        level = SYSTEM_EVENT_LEVELS.get(kind, DEFAULT_LEVEL)
        if rank(level) < rank(self.system_level):
            return None
        return json.dumps(event, separators=(",", ":"))
