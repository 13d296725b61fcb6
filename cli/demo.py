"""`httprecap demo`: the example function in the local sandbox, with its recaps (dev-time).

The README's main command. Progress goes to stderr; the recaps, as tables, to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from httprecap.sandbox import InvokeResult
from httprecap.view.text import (
    Style,
    render_findings_overview,
    render_overview,
    render_recap,
)

if TYPE_CHECKING:
    from httprecap.recap_schema import Recap


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the example function with the layer in the local sandbox",
        description="Build the layer if needed, start a local upstream API and a local AWS "
        "endpoint (moto), run the example orders function in the local Lambda sandbox with the "
        "layer attached, and print each invocation's HTTP recap and findings.")
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="where recaps.jsonl and report.html go (default: demo-output)")
    parser.add_argument("--layer", type=Path, default=Path("dist/httprecap-layer.zip"),
                        help="the layer zip to use, built first when missing or stale "
                        "(default: dist/httprecap-layer.zip)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    from httprecap.demo.run import SCENARIOS, Scenario, run_demo, stderr_progress
    from httprecap.view.findings import summarize_findings
    from httprecap.view.host_stats import summarize

    style = Style(color=args.color == "always" or (args.color == "auto" and sys.stdout.isatty()))
    numbered = {scenario.title: index for index, scenario in enumerate(SCENARIOS, start=1)}

    def show(scenario: Scenario, result: InvokeResult, recaps: list[Recap]) -> None:
        print(f"\n=== invocation {numbered[scenario.title]} of {len(SCENARIOS)}: "
              f"{scenario.title} ===")
        print(f"response: {_describe(result)}")
        for recap in recaps:
            print(render_recap(recap, style))
        sys.stdout.flush()

    outcome = run_demo(args.out, args.layer, stderr_progress, show)
    print("\n=== across the invocations ===")
    print(render_overview(summarize(outcome.recaps), style))
    print()
    print(render_findings_overview(summarize_findings(outcome.recaps), style))
    print(f"\nraw recaps (JSON lines): {outcome.recaps_path}")
    print(f"HTML report:             {outcome.html_path}")
    return 0


def _describe(result: InvokeResult) -> str:
    payload = result.payload.decode(errors="replace")
    if result.function_error:
        try:
            error = json.loads(payload)
            payload = f"{error.get('errorType')}: {error.get('errorMessage')}"
        except ValueError:
            pass
        return f"{result.status_code}, function error ({result.function_error}) {payload}"
    return f"{result.status_code} {payload}"
