"""Diagnostics: httprecap's own lines on the function's stderr (function process).

httprecap fails open: its bookkeeping runs inside ``try/except Exception`` so that the user's
call never sees it fail. With ``HTTPRECAP_LOG_LEVEL=debug`` each place that swallowed an
exception says so once (its stable name, the exception's type and redacted message, and the
function that raised it) on stderr, which Lambda sends to CloudWatch with the function's
logs::

    httprecap: debug: capture.call.close failed open: KeyError: 'status' (raised in _outcome)

At any other level `swallowed` returns at its first test: it only ever runs once an exception
has happened, and the success path pays nothing. Lines go to ``sys.stderr`` as it is when they
are written (never through HTTP, which the capture would record) and are redacted like
records (httprecap.redact). Bootstrap configures this module from the settings (and
sitecustomize, for a failure before that); nothing here reads the environment.

Example::

    try:
        ...  # bookkeeping
    except Exception as exc:
        diagnostics.swallowed("capture.call.close", exc)
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # start-up budget: `typing` names are for mypy only
if TYPE_CHECKING:
    from httprecap.redact import Redactor

PREFIX = "httprecap: "
MAX_PLACES = 256  # places are literals (a few dozen); the bound holds whatever names come
MAX_MESSAGE_CHARS = 300


class _State:
    on = False  # checked first by `swallowed`: False unless HTTPRECAP_LOG_LEVEL is debug
    redactor: Redactor | None = None


_state = _State()
_logged: dict[str, object] = {}  # place -> the mark of the call that logged it


def configure(level: str, patterns: tuple[str, ...] = ()) -> None:
    """Log swallowed failures if `level` is ``debug``, redacted with the HTTPRECAP_REDACT
    `patterns` as records are; every place may log once again from now on."""
    _logged.clear()
    if level != "debug":
        _state.on, _state.redactor = False, None
        return
    from httprecap.redact import Redactor  # (debug only: loaded at start-up then)

    _state.redactor = Redactor(patterns)
    _state.on = True


def enabled() -> bool:
    return _state.on


def swallowed(place: str, exc: BaseException) -> None:
    """`exc` was swallowed at `place`: log it if debug is on and `place` has not logged yet.
    Never raises."""
    if not _state.on:
        return
    try:
        if place in _logged or len(_logged) >= MAX_PLACES:
            return
        mark = object()
        if _logged.setdefault(place, mark) is not mark:  # atomic: of two threads, one logs
            return
        redactor = _state.redactor
        if redactor is not None:
            write(line(place, exc, redactor))
    except Exception:  # not logged: this is the log
        pass


def line(place: str, exc: BaseException, redactor: Redactor) -> str:
    """The one line that says `place` swallowed `exc`, its message redacted."""
    try:
        message = " ".join(str(exc).split())  # one event per line in CloudWatch
    except Exception:  # an exception whose str() fails still names its type
        message = "(its message could not be read)"
    described = f"{type(exc).__name__}: {redactor.text(message, limit=MAX_MESSAGE_CHARS)}"
    raised_in = _raised_in(exc)
    suffix = f" (raised in {raised_in})" if raised_in else ""
    return f"{PREFIX}debug: {place} failed open: {described}{suffix}"


def _raised_in(exc: BaseException) -> str:
    """The function `exc` was raised in: a place wraps many helpers."""
    last = exc.__traceback__
    if last is None:
        return ""
    while last.tb_next is not None:
        last = last.tb_next
    return last.tb_frame.f_code.co_name


def write(text: str) -> None:
    """`text` as one line on stderr; a closed or broken stderr is ignored."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except Exception:  # not logged: stderr is where it would go
        pass
