"""Conformance: ``python -m conformance [--ci] [--suite NAME ...]`` (dev tools; see the package's
docstring). Prints a table per suite and exits non-zero when a suite fails (see report.py)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from conformance import prepare, report, run
from conformance.suites import by_name


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    parser.add_argument("--ci", action="store_true",
                        help="CI's share: a fixed part of the suites that run long (botocore)")
    parser.add_argument("--suite", action="append", metavar="NAME",
                        help="run only this suite (repeatable)")
    parser.add_argument("--serial", action="store_true",
                        help="run the two modes one after the other, not at once")
    parser.add_argument("--markdown", type=Path, default=prepare.HOME / "report.md",
                        help="where to write the report table (default: %(default)s)")
    return parser.parse_args(argv)


def check_namespace() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None if it can."""
    try:
        done = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True,
                              text=True, check=False)
    except OSError as exc:
        return f"cannot run unshare: {exc}"
    if done.returncode != 0:
        return f"unshare --net failed (it needs root): {done.stderr.strip()}"
    return None


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        suites = by_name(args.suite)
    except ValueError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    reason = check_namespace()
    if reason is not None:
        # Without the namespace these suites would reach the internet and AWS's metadata address.
        print(f"conformance: {reason}; refusing to run the suites outside one", file=sys.stderr)
        return 2
    try:
        versions = prepare.installed_versions(suites)
        setup = run.Setup(python=prepare.venv(suites, versions), opt=prepare.layer(),
                          parallel=not args.serial)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"conformance: cannot prepare the runs: {exc}", file=sys.stderr)
        return 2
    results = []
    for suite in suites:
        started = time.monotonic()
        result = run.run_suite(setup, suite, versions[suite.name], args.ci)
        results.append(result)
        print(f"conformance: {suite.name} {result.version}: {result.tests} tests, "
              f"{len(result.differences)} differing, {result.on.records} records "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    text = report.table(results)
    notes = report.details(results)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text + "\n" + (f"\n```\n{notes}\n```\n" if notes else ""))
    print(text + ("\n\n" + notes if notes else ""))
    ok = report.passed(results)
    print(f"conformance: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
