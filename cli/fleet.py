"""`httprecap fleet`: runs one of the fleet's Logs Insights queries and prints its table (dev-time).

The queries live in fleet/insights_queries.py (`httprecap fleet --list`). A query runs over every
log group whose name starts with a `--log-group-prefix` (a SOURCE line: all of a fleet's
functions at once), or over the `--log-group`s named. The table goes to stdout; what the
query cost (records and bytes scanned) goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from httprecap.errors import UsageError
from httprecap.fleet.insights_queries import DEFAULT_PREFIX, QUERIES, Query, query_named

HIDDEN_FIELDS = ("@ptr",)  # CloudWatch's pointer to the event, not an answer
MAX_CELL = 60


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fleet", help="run a fleet query (CloudWatch Logs Insights) across functions",
        description="Run one of httprecap's Logs Insights queries across the log groups of "
        "many functions (StartQuery, GetQueryResults) and print the result table.")
    parser.add_argument("query", nargs="?", metavar="QUERY", help="a query name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the queries and exit")
    parser.add_argument("--log-group-prefix", action="append", metavar="PREFIX",
                        help=f"query every log group starting with PREFIX (default "
                        f"{DEFAULT_PREFIX}; up to 5 times)")
    parser.add_argument("--log-group", action="append", metavar="NAME",
                        help="query this log group by name instead (repeatable, up to 50)")
    parser.add_argument("--since", default="24h", help="how far back (default 24h)")
    parser.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                        help="longest wait for the results before stopping the query "
                        "(default 300)")
    parser.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION)")
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    if args.list:
        print(render_list(QUERIES))
        return 0
    query, query_string, since = _prepare(args)
    from httprecap.fleet.insights import InsightsRunner

    runner = InsightsRunner(region=args.region, wait_seconds=args.wait)
    result = runner.run(query_string, since, tuple(args.log_group or ()))
    print(render_table(result.rows))
    print(render_statistics(query, result.statistics, len(result.rows)), file=sys.stderr)
    return 0


def _prepare(args: argparse.Namespace) -> tuple[Query, str, float]:
    """The query, its query string and the window in seconds, or one usage error."""
    from httprecap.view.cloudwatch import parse_since

    if not args.query:
        raise UsageError("name a query (httprecap fleet --list shows them)")
    if args.log_group and args.log_group_prefix:
        raise UsageError("give --log-group-prefix or --log-group, not both")
    if args.wait <= 0:
        raise UsageError("--wait takes a number of seconds > 0")
    query = query_named(args.query)
    since = parse_since(args.since).total_seconds()
    if args.log_group:
        return query, query.body, since
    return query, query.with_source(tuple(args.log_group_prefix or (DEFAULT_PREFIX,))), since


def render_list(queries: Sequence[Query]) -> str:
    width = max(len(query.name) for query in queries)
    return "\n".join(f"{query.name.ljust(width)}  {query.question}" for query in queries)


def render_table(rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """The rows as aligned columns, in the order CloudWatch gave the fields."""
    columns = list(dict.fromkeys(name for row in rows for name, _ in row
                                 if name not in HIDDEN_FIELDS))
    if not columns:
        return f"({len(rows)} rows without a field to show)" if rows else "(no rows)"
    cells = [[_cell(dict(row).get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[index]) for line in cells)])
              for index, column in enumerate(columns)]
    numeric = [all(_is_number(line[index]) or not line[index] for line in cells)
               for index in range(len(columns))]
    lines = [_line(columns, widths, numeric)]
    lines += [_line(line, widths, numeric) for line in cells]
    return "\n".join(lines)


def render_statistics(query: Query, statistics: dict[str, float], rows: int) -> str:
    scanned = statistics.get("bytesScanned", 0.0) / 1_000_000
    return (f"{query.name}: {rows} row{'' if rows == 1 else 's'}; "
            f"{statistics.get('recordsMatched', 0):.0f} of "
            f"{statistics.get('recordsScanned', 0):.0f} records matched, {scanned:.1f} MB scanned")


def _line(cells: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    padded = [cell.rjust(width) if right else cell.ljust(width)
              for cell, width, right in zip(cells, widths, numeric, strict=True)]
    return "  ".join(padded).rstrip()


def _cell(value: str) -> str:
    """A number to a readable precision; other text on one line, cut to MAX_CELL."""
    if _is_number(value) and "." in value:
        number = float(value)
        return f"{number:.3f}" if abs(number) < 10 else f"{number:.1f}"
    text = " ".join(value.split())
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip() != "" and value.lower() not in ("nan", "inf", "-inf", "infinity")
