"""Fleet: keeps the example stacks' generated parts equal to their source (dev-time).

The Logs Insights queries (insights_iac.py) and the Athena table and queries (athena_iac.py)
are rendered into the same examples: whole files, or a section between two marker lines of
the SAM template. Both check and write them the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path


def replace_marked(text: str, begin: str, end: str, section: str) -> str | None:
    """`text` with the lines from marker `begin` to marker `end` (both included) replaced by
    `section`; None when the markers are not both there, in that order."""
    start = text.find(begin)
    stop = -1 if start < 0 else text.find(end, start + len(begin))
    if stop < 0:
        return None
    return text[:start] + section + text[stop + len(end):]


def stale(wanted: dict[Path, str]) -> list[Path]:
    """The files of `wanted` (path -> the text it should hold) that do not hold it."""
    return [path for path, text in wanted.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def sync(wanted: dict[Path, str], check: bool, source: str, command: str) -> int:
    """Write each file of `wanted` that differs; with `check`, only name them (exit status 1
    when there are any)."""
    out_of_date = stale(wanted)
    if check:
        for path in out_of_date:
            print(f"{path}: out of date with {source}; run {command}", file=sys.stderr)
        return 1 if out_of_date else 0
    for path in out_of_date:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0
