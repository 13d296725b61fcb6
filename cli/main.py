"""Command line entry point: builds the parser and is the one error boundary (dev-time).

Each subcommand lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser. Errors derived from HttprecapError print one line and exit with their
code; Ctrl-C exits 130; nothing prints a traceback unless HTTPRECAP_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from httprecap import __version__
from httprecap.cli import demo, fleet, layer, run, serve, view
from httprecap.errors import HttprecapError

COMMANDS = (run, serve, demo, layer, view, fleet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="httprecap",
        description="Recap every outbound HTTP call of each AWS Lambda invocation, "
        "and run Python functions in a local Lambda sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"httprecap {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except HttprecapError as exc:
        if os.environ.get("HTTPRECAP_DEBUG") == "1":
            raise
        print(f"httprecap: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("httprecap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
