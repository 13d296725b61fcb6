"""What HTTPRECAP_KEEP=notable saves on a sample of recaps (dev tool).

Reads recaps shipped in full (JSON lines, as the `file://` sink writes them, e.g. the demo's
demo-output/recaps.jsonl) and prints, per recap and in all, the bytes each would ship with
HTTPRECAP_KEEP=all and with HTTPRECAP_KEEP=notable, through the extension's own keep policy.

    .venv/bin/python scripts/keep_savings.py demo-output/recaps.jsonl [--slow-ms 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from httprecap.external.aggregate.encode import EncodedRecap, utf8_size
from httprecap.external.ship.keep import keep_policy


def sizes(recap: dict[str, object], slow_ms: float) -> tuple[int, int, bool]:
    """The recap's shipped size with `all` and with `notable`, and whether it was compacted."""
    full = EncodedRecap.from_dict(recap)
    keep = keep_policy("notable", slow_ms)
    kept = keep(full) if keep is not None else full
    return utf8_size(full.line()), utf8_size(kept.line()), kept is not full


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recaps", type=Path, help="a JSON-lines file of recaps shipped in full")
    parser.add_argument("--slow-ms", type=float, default=1000.0,
                        help="HTTPRECAP_KEEP_SLOW_MS (default 1000)")
    args = parser.parse_args(argv)
    lines = [line for line in args.recaps.read_text().splitlines() if line.strip()]
    recaps = [json.loads(line) for line in lines]
    if any(recap.get("compact") for recap in recaps):
        print("these recaps were shipped with HTTPRECAP_KEEP=notable already", file=sys.stderr)
        return 2
    total_all = total_notable = compacted = 0
    for recap in recaps:
        all_bytes, notable_bytes, compact = sizes(recap, args.slow_ms)
        total_all, total_notable = total_all + all_bytes, total_notable + notable_bytes
        compacted += compact
        print(f"{recap.get('requestId', '?')!s:40} {recap['summary']['count']:>4} calls "
              f"{all_bytes:>8,} -> {notable_bytes:>8,} bytes{'  (compact)' if compact else ''}")
    saved = 1 - total_notable / total_all if total_all else 0.0
    print(f"{len(recaps)} recaps, {compacted} compact: {total_all:,} bytes with all, "
          f"{total_notable:,} with notable ({saved:.0%} less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
