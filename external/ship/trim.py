"""Ship: fits a recap into a size limit by removing calls from the end (extension process).

CloudWatch Logs takes events up to 256 KiB, Kinesis records up to 1 MiB: a recap with
thousands of calls can exceed both. Splitting a recap over several lines would break every
reader, so calls are removed from the end (the summary still covers all of them) and the
recap says how many with `"truncated": {"calls": N}`.
"""

from __future__ import annotations

from typing import Any

from httprecap.external.ship.sink import Entry, compact_json

_dump = compact_json


def _size(text: str) -> int:
    return len(text.encode())


def fit_line(entry: Entry, limit: int) -> str:
    """The entry's JSON line, trimmed to at most `limit` UTF-8 bytes."""
    line = entry.line()
    if len(line) * 4 <= limit or _size(line) <= limit:
        return line
    recap = entry.recap
    calls = recap.get("calls") or []
    kept = _most_calls_fitting(recap, calls, limit)
    if kept is not None:
        return kept
    summary = dict(recap.get("summary") or {})
    hosts = summary.get("hosts") or []
    summary["hosts"] = []
    bare = {**recap, "calls": [], "summary": summary,
            "truncated": {"calls": len(calls), "hosts": len(hosts)}}
    line = _dump(bare)
    if _size(line) <= limit:
        return line
    # Only oversized strings in the invocation fields themselves are left; keep the identity.
    names = ("type", "version", "phase", "requestId", "status", "startedAt", "durationMs")
    return _dump({name: recap.get(name) for name in names} |
                 {"truncated": {"calls": len(calls), "hosts": len(hosts), "fields": True}})


def _most_calls_fitting(recap: dict[str, Any], calls: list[Any], limit: int) -> str | None:
    """The recap with the longest prefix of `calls` that fits; None if not even one does.

    Each call is serialised once and the line assembled around them: re-serialising the
    whole recap per guess would cost more than the rest of the extension's work.
    """
    pieces = [_dump(item) for item in calls]
    # The frame with the largest possible count is at least as wide as the final one.
    room = limit - _size(_frame(recap, len(calls)))
    kept = used = 0
    for piece in pieces:
        used += _size(piece) + 1  # and its comma
        if used > room:
            break
        kept += 1
    if not kept:
        return None
    return _frame(recap, len(calls) - kept).replace(
        '"calls":[]', '"calls":[' + ",".join(pieces[:kept]) + "]", 1)


def _frame(recap: dict[str, Any], removed: int) -> str:
    # JSON escapes quotes inside strings, so the first bare `"calls":[]` is the key itself.
    return _dump({**recap, "calls": [], "truncated": {"calls": removed}})
