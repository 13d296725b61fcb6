"""View: finds recaps in text — JSON lines, CloudWatch log lines and exports (dev-time CLI).

A recap is one JSON object (docs/RECAP.md) that may sit anywhere in a line: alone (the `file://`
sink), behind a timestamp and request-id prefix (CloudWatch's console and `aws logs tail`), or
inside the `message` of an exported log event (`aws logs filter-log-events` output, one JSON
document, often pretty-printed). Lines that merely are other output are passed over; lines that
carry a recap (or look like JSON) but cannot be decoded are counted as unreadable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from httprecap import recap_schema

    Recap = recap_schema.Recap
    Call = recap_schema.RecapCall
else:  # the types are mypy's (httprecap.recap_schema); a recap read is the dict json made
    Recap = Call = dict

RECAP_TYPE = "httprecap.recap"
SCHEMA_VERSION = 1
# Where a recap object starts inside a line, with or without a space after the colon.
_MARKER = re.compile(r'\{\s*"type"\s*:\s*"httprecap\.recap"')
_DECODER = json.JSONDecoder()


@dataclass
class ReadResult:
    """The recaps found in one source, in input order, and what had to be passed over."""

    recaps: list[Recap] = field(default_factory=list)
    lines: int = 0
    unreadable: int = 0

    def add(self, other: ReadResult) -> None:
        self.recaps += other.recaps
        self.lines += other.lines
        self.unreadable += other.unreadable


def read_text(text: str) -> ReadResult:
    """Every recap in `text`: a whole JSON export, or lines of any kind."""
    exported = _exported_messages(text)
    if exported is not None:
        return read_lines(exported)
    return read_lines(text.splitlines())


def read_lines(lines: Iterable[str]) -> ReadResult:
    result = ReadResult()
    for line in lines:
        result.lines += 1
        recaps, unreadable = recaps_in_line(line)
        result.recaps += recaps
        result.unreadable += unreadable
    return result


def recaps_in_line(line: str) -> tuple[list[Recap], int]:
    """The recaps in one line, and how many recap-like objects in it could not be read."""
    starts = [match.start() for match in _MARKER.finditer(line)]
    if not starts:
        return _recaps_in_json_line(line)
    recaps: list[Recap] = []
    unreadable = 0
    for start in starts:
        recap = _decode_at(line, start)
        if recap is None:
            unreadable += 1
        else:
            recaps.append(recap)
    return recaps, unreadable


def _decode_at(line: str, start: int) -> Recap | None:
    try:
        value, _ = _DECODER.raw_decode(line, start)
    except ValueError:
        return None
    return value if is_recap(value) else None


def _recaps_in_json_line(line: str) -> tuple[list[Recap], int]:
    """A line without the marker: a recap with reordered keys, a log event, or other output."""
    stripped = line.strip()
    # Only objects: Lambda's own log lines start with "[INFO]", "[WARNING]" ...
    if not stripped.startswith("{"):
        return [], 0
    try:
        value = json.loads(stripped)
    except ValueError:
        return [], 1
    if is_recap(value):
        return [value], 0
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return recaps_in_line(value["message"])
    return [], 0


def _exported_messages(text: str) -> list[str] | None:
    """The event messages of a whole-document CloudWatch export, else None."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")) or "\n" not in stripped:
        return None
    try:
        document = json.loads(stripped)
    except ValueError:
        return None
    events = document.get("events") if isinstance(document, dict) else document
    if is_recap(document):
        return [json.dumps(document)]
    if not isinstance(events, list):
        return None
    return [str(event.get("message", "")) for event in events if isinstance(event, dict)]


def is_recap(value: object) -> bool:
    """Whether `value` is a recap this viewer understands (type, version 1, calls)."""
    return (isinstance(value, dict) and value.get("type") == RECAP_TYPE
            and value.get("version") == SCHEMA_VERSION
            and isinstance(value.get("requestId"), str)
            and isinstance(value.get("calls", []), list))


# Call helpers shared by the renderers and the summary: one definition of "failed".

def is_failed(call: Call) -> bool:
    """An exception, a status of 400 or more, or a call that never finished."""
    status = call.get("status")
    return (call.get("error") is not None or bool(call.get("inFlight"))
            or (isinstance(status, int) and status >= 400))


def host_label(call: Call) -> str:
    """The host, with the port when it is not the scheme's default (two local services on
    127.0.0.1 stay apart)."""
    host = str(call.get("host") or "?")
    port = call.get("port")
    default = {"http": 80, "https": 443}.get(str(call.get("scheme")))
    return f"{host}:{port}" if isinstance(port, int) and port != default else host


def duration_of(call: Call) -> float:
    value = call.get("durationMs")
    return float(value) if isinstance(value, (int, float)) else 0.0


def calls_of(recap: Recap) -> list[Call]:
    return [call for call in recap.get("calls") or [] if isinstance(call, dict)]


def iter_calls(recaps: Iterable[Recap]) -> Iterator[Call]:
    for recap in recaps:
        yield from calls_of(recap)
