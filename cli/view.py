"""`httprecap view`: read recaps from a file, stdin, S3 or CloudWatch Logs and show them (dev-time).

Recaps go to stdout (tables, `--summary`, `--findings`, or `--json` lines); notices about the
input (lines skipped, nothing matched, where the HTML report went) go to stderr, so `--json`
output pipes cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from httprecap.errors import HttprecapError, UsageError
from httprecap.view.filters import Selection, select
from httprecap.view.findings import findings_of, summarize_findings
from httprecap.view.read import ReadResult, Recap, calls_of, read_lines, read_text
from httprecap.view.s3 import is_s3_url
from httprecap.view.text import (
    Style,
    render_findings,
    render_findings_overview,
    render_header,
    render_overview,
    render_recap,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "view", help="show recaps as tables, a summary, JSON or an HTML report",
        description="Show HTTP recaps from a JSON-lines file, stdin (-), CloudWatch log "
        "lines or exports, the objects Firehose delivered to S3 (s3://BUCKET/PREFIX/), or "
        "straight from a CloudWatch log group.")
    parser.add_argument("source", nargs="?", metavar="FILE|-|s3://BUCKET/PREFIX/",
                        help="file of recaps or log lines; - for stdin; every object under an "
                        "S3 prefix (gzip or not)")
    cloud = parser.add_argument_group("CloudWatch Logs (boto3)")
    cloud.add_argument("--log-group", metavar="NAME", help="e.g. /aws/lambda/orders-api")
    cloud.add_argument("--since", default="1h", help="how far back to read (default 1h)")
    cloud.add_argument("--request-id", metavar="ID", help="only this invocation")
    cloud.add_argument("--follow", action="store_true", help="keep polling for new recaps")
    cloud.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION; "
                       "for s3:// us-east-1 when none is set)")
    narrow = parser.add_argument_group("filters")
    narrow.add_argument("--errors", action="store_true",
                        help="only failed calls (exception, status >= 400, in flight)")
    narrow.add_argument("--slower-than", type=float, metavar="MS", help="only calls over MS")
    narrow.add_argument("--host", help="only calls to HOST (exact, parent domain, or glob)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="the (filtered) recaps as JSON lines")
    out.add_argument("--summary", action="store_true",
                     help="per-host calls, error rate and latency across the invocations")
    out.add_argument("--findings", action="store_true",
                     help="the invocations' findings, grouped by kind and endpoint")
    out.add_argument("--html", type=Path, metavar="FILE",
                     help="also write a self-contained HTML report with waterfalls")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="ANSI colour (default: when stdout is a terminal)")
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    _check(args)
    selection = Selection(args.errors, args.slower_than, args.host, args.request_id)
    style = Style(color=_use_color(args.color, sys.stdout))
    if args.follow:
        return _follow(args, selection, style)
    result, name = _read(args)
    if result.unreadable:
        _notice(f"skipped {result.unreadable} unreadable line"
                f"{'' if result.unreadable == 1 else 's'}")
    if not result.recaps:
        raise HttprecapError(f"no recaps found in {name} ({result.lines} lines read)")
    recaps = select(result.recaps, selection)
    if not recaps:
        _notice(f"no invocation matches the filters ({len(result.recaps)} read)")
    _show(recaps, args, style)
    if args.html:
        _write_html(args.html, recaps, name)
    return 0


def _check(args: argparse.Namespace) -> None:
    if args.source and args.log_group:
        raise UsageError("give either FILE|- or --log-group, not both")
    if args.follow and not args.log_group:
        raise UsageError("--follow needs --log-group")
    if args.follow and (args.html or args.summary):
        raise UsageError("--follow streams recaps: it cannot be combined with --html or --summary")
    if sum((args.json, args.summary, args.findings)) > 1:
        raise UsageError("give one of --json, --summary and --findings")
    if args.slower_than is not None and args.slower_than < 0:
        raise UsageError("--slower-than takes a number of milliseconds >= 0")
    if not args.source and not args.log_group and sys.stdin.isatty():
        raise UsageError("nothing to read: give a FILE, - for stdin, or --log-group NAME")


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _read(args: argparse.Namespace) -> tuple[ReadResult, str]:
    if args.log_group:
        from httprecap.view.cloudwatch import LogGroupReader, parse_since

        reader = LogGroupReader(args.log_group, parse_since(args.since), args.region)
        return read_lines(reader.read()), f"log group {args.log_group}"
    if not args.source or args.source == "-":
        return read_text(sys.stdin.read()), "stdin"
    if is_s3_url(args.source):
        return _read_s3(args.source, args.region), args.source
    path = Path(args.source)
    try:
        return read_text(path.read_text(encoding="utf-8", errors="replace")), str(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_s3(url: str, region: str | None) -> ReadResult:
    from httprecap.view.s3 import S3Reader

    reader = S3Reader(url, region)
    result = reader.read()
    _notice(f"read {reader.objects} object{'' if reader.objects == 1 else 's'} under {url}")
    return result


def _show(recaps: list[Recap], args: argparse.Namespace, style: Style) -> None:
    if args.json:
        for recap in recaps:
            print(json.dumps(recap, separators=(",", ":")))
    elif args.summary:
        from httprecap.view.host_stats import summarize

        print(render_overview(summarize(recaps), style))
    elif args.findings:
        print(render_findings_overview(summarize_findings(recaps), style))
    else:
        print("\n\n".join(render_recap(recap, style) for recap in recaps))


def _follow(args: argparse.Namespace, selection: Selection, style: Style) -> int:
    from httprecap.view.cloudwatch import LogGroupReader, parse_since

    reader = LogGroupReader(args.log_group, parse_since(args.since), args.region)
    _notice(f"following {args.log_group} (Ctrl-C to stop)")
    for batch in reader.follow():
        for recap in select(read_lines(batch).recaps, selection):
            _print_followed(recap, args, style)
    return 0


def _print_followed(recap: Recap, args: argparse.Namespace, style: Style) -> None:
    """One new recap as it arrives; with --findings only its header and findings, if any."""
    if args.json:
        print(json.dumps(recap, separators=(",", ":")), flush=True)
    elif not args.findings:
        print(render_recap(recap, style) + "\n", flush=True)
    elif findings_of(recap):
        lines = render_findings(findings_of(recap), calls_of(recap), style)
        print("\n".join([render_header(recap, style), *lines]) + "\n", flush=True)


def _write_html(path: Path, recaps: list[Recap], name: str) -> None:
    from httprecap.view.report_html import render_html

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(recaps, title=f"httprecap: {name}"), encoding="utf-8")
    except OSError as exc:
        raise HttprecapError(f"cannot write {path}: {exc.strerror or exc}") from None
    _notice(f"HTML report: {path} ({len(recaps)} invocations)")


def _notice(text: str) -> None:
    print(f"httprecap: {text}", file=sys.stderr)
