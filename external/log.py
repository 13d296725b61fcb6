"""Diagnostics: the extension's own one-line messages on stderr (extension process).

Lambda turns the extension's stderr into log lines next to the function's, so every line is
prefixed `[httprecap]`, kept to one line and redacted (httprecap.redact). `HTTPRECAP_LOG_LEVEL`
sets the threshold.
"""

from __future__ import annotations

import sys

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state = {"threshold": _LEVELS["warning"]}
_once: set[str] = set()


def configure(level: str) -> None:
    _state["threshold"] = _LEVELS.get(level.strip().lower(), _LEVELS["warning"])


def enabled(level: str) -> bool:
    return _LEVELS[level] >= _state["threshold"]


def _emit(level: str, message: str) -> None:
    if not enabled(level):
        return
    line = _redacted(" ".join(message.split()))  # one event per line in CloudWatch
    try:
        sys.stderr.write(f"[httprecap] {level}: {line}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # a closed stderr must not take the extension down


def _redacted(line: str) -> str:
    """The line as records are redacted: a sink's URL, a malformed setting or an exception's
    text may hold a secret."""
    try:
        from httprecap.redact import Redactor  # loaded with the first line written

        return Redactor().text(line, limit=4000)
    except Exception:
        return "(a line that could not be redacted was dropped)"


def debug(message: str) -> None:
    _emit("debug", message)


def info(message: str) -> None:
    _emit("info", message)


def warning(message: str) -> None:
    _emit("warning", message)


def error(message: str) -> None:
    _emit("error", message)


def warning_once(key: str, message: str) -> None:
    """Warn the first time `key` comes up in this process; repeats would only add noise."""
    if key not in _once:
        _once.add(key)
        warning(message)
