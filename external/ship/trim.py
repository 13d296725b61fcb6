"""Ship: fits a recap into a size limit by removing calls from the end (extension process).

CloudWatch Logs takes events up to 256 KiB, Kinesis records up to 1 MiB: a recap with
thousands of calls can exceed both. Splitting a recap over several lines would break every
reader, so calls are removed from the end (the summary still covers all of them) and the
recap says how many with `"truncated": {"calls": N}`.
"""

from __future__ import annotations

import json
from typing import Any

from httprecap.external.ship.sink import Entry


def _dump(recap: dict[str, Any]) -> str:
    return json.dumps(recap, separators=(",", ":"), ensure_ascii=False)


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
    """Binary search for the largest prefix of `calls` that fits; None if not even zero does."""
    low, high, best = 0, len(calls) - 1, None
    while low <= high:
        middle = (low + high) // 2
        line = _dump({**recap, "calls": calls[:middle],
                      "truncated": {"calls": len(calls) - middle}})
        if _size(line) <= limit:
            best, low = line, middle + 1
        else:
            high = middle - 1
    return best
