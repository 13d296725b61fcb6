"""Ship: fits a recap into a size limit by removing calls from the end (extension process).

CloudWatch Logs takes events up to 256 KiB, Kinesis records up to 1 MiB: a recap with
thousands of calls can exceed both. Splitting a recap over several lines would break every
reader, so calls are removed from the end (the summary still covers all of them) and the
recap says how many with `"truncated": {"calls": N}`.

The calls are already encoded one by one (aggregate/encode.py), so the cut is found by adding
up their sizes, and the line is assembled once: nothing is encoded twice.
"""

from __future__ import annotations

from httprecap.external.aggregate.encode import compact_json, utf8_size

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.encode import EncodedRecap
    from httprecap.external.ship.sink_base import Entry


def fit_line(entry: Entry, limit: int) -> str:
    """The entry's JSON line, trimmed to at most `limit` UTF-8 bytes."""
    recap = entry.recap
    if recap.size <= limit:
        return recap.line()
    count = len(recap.pieces)
    kept = _most_calls_fitting(recap, limit)
    if kept:
        return recap.with_calls(kept, {"truncated": {"calls": count - kept}})
    summary = recap.fields.get("summary") or {}
    hosts = summary.get("hosts") or []
    line = recap.with_calls(0, {"summary": {**summary, "hosts": []},
                                "truncated": {"calls": count, "hosts": len(hosts)}})
    if utf8_size(line) <= limit:
        return line
    # Only oversized strings in the invocation fields themselves are left; keep the identity,
    # and the level Lambda's log-level filtering reads.
    names = ("type", "version", "level", "timestamp", "phase", "requestId", "status",
             "startedAt", "durationMs")
    return compact_json({name: recap.fields.get(name) for name in names} |
                        {"truncated": {"calls": count, "hosts": len(hosts), "fields": True}})


def _most_calls_fitting(recap: EncodedRecap, limit: int) -> int:
    """How many leading calls fit in `limit` with the `truncated` marker (maybe none)."""
    # The marker with the largest possible count is at least as wide as the final one.
    room = limit - utf8_size(recap.with_calls(0, {"truncated": {"calls": len(recap.pieces)}}))
    kept = used = 0
    for size in recap.sizes:
        used += size + 1  # and its comma
        if used > room:
            break
        kept += 1
    return kept
