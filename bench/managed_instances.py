"""Bench: httprecap's per-invocation overhead on Lambda Managed Instances (dev-time).

Runs the LMI test function (`tests/e2e/functions/managed`: each invocation makes `--calls`
GETs to a loopback upstream) in the sandbox's LMI mode (`--workers` forked awslambdaric
workers, `--in-flight` invocations sent at a time), once without any layer and once with the
built httprecap layer (`AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`, recaps to a file),
alternating for `--rounds` rounds in the same run, and prints a Markdown table: the
invocation's duration as `platform.report` says it (start to response posted, the figure a
user sees), the caller's latency, and the throughput of the environment.

    .venv/bin/python -m bench.managed_instances [--invokes 400] [--workers 4] [--in-flight 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from httprecap.demo.upstream import UpstreamServer
from httprecap.layer.build import build_layer
from httprecap.sandbox import FunctionConfig, InvokeResult, Sandbox

ROOT = Path(__file__).resolve().parent.parent
FUNCTION = ROOT / "tests" / "e2e" / "functions" / "managed"
COMMAND = ".venv/bin/python -m bench.managed_instances"


class Figures:
    """What one configuration measured, over every round."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.latencies: list[float] = []
        self.seconds = 0.0
        self.invokes = 0
        self.recaps = 0


def _config(args: argparse.Namespace, env: dict[str, str], layers: list[Path]) -> FunctionConfig:
    return FunctionConfig(code_dir=FUNCTION, handler="app.handler", layers=layers, env=env,
                          timeout_s=30, memory_mb=4096, max_concurrency=args.workers)


def _durations(sandbox: Sandbox, results: list[InvokeResult]) -> list[float]:
    """platform.report durationMs of each result (LMI: start to response posted)."""
    wanted = {result.request_id for result in results}
    found = []
    for event in sandbox.telemetry:
        record = event["record"]
        if event["type"] == "platform.report" and record["requestId"] in wanted:
            found.append(float(record["metrics"]["durationMs"]))
    return found


def _round(args: argparse.Namespace, config: FunctionConfig, figures: Figures) -> None:
    def event(n: int) -> dict[str, Any]:
        return {"n": n, "calls": [f"/fast?inv={n}&i={i}" for i in range(args.calls)]}

    with Sandbox(config) as sandbox:
        # Warm every worker first: the bench is about warm invocations.
        with ThreadPoolExecutor(args.workers) as callers:
            list(callers.map(lambda n: sandbox.invoke(event(-1 - n)), range(args.workers * 2)))
        started = time.perf_counter()
        with ThreadPoolExecutor(args.in_flight) as callers:
            results = list(callers.map(lambda n: sandbox.invoke(event(n)), range(args.invokes)))
        figures.seconds += time.perf_counter() - started
        figures.invokes += len(results)
        figures.durations += _durations(sandbox, results)
        figures.latencies += [result.response_latency_ms for result in results]
        if not all(result.ok for result in results):
            raise RuntimeError("an invocation failed; the figures would mean nothing")


def _count_recaps(path: Path) -> int:
    if not path.exists():
        return 0
    return sum('"phase":"invoke"' in line.replace(" ", "") for line in path.open())


def measure(args: argparse.Namespace) -> dict[str, Figures]:
    scratch = Path(tempfile.mkdtemp(prefix="httprecap-bench-lmi-"))
    layer = build_layer(scratch / "httprecap-layer.zip").path
    figures = {"without": Figures(), "with": Figures()}
    with UpstreamServer() as upstream:
        for number in range(args.rounds):
            sink = scratch / f"recaps-{number}.jsonl"
            plain = _config(args, {"UPSTREAM_URL": upstream.url}, [])
            traced = _config(args, {"UPSTREAM_URL": upstream.url,
                                    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",
                                    "HTTPRECAP_SINKS": f"file://{sink}"}, [layer])
            _round(args, plain, figures["without"])
            _round(args, traced, figures["with"])
            figures["with"].recaps += _count_recaps(sink)
    return figures


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def table(figures: dict[str, Figures], args: argparse.Namespace) -> str:
    without, with_layer = figures["without"], figures["with"]
    rows = [
        ("duration (platform.report), median ms",
         statistics.median(without.durations), statistics.median(with_layer.durations)),
        ("duration (platform.report), p90 ms", _p(without.durations, 0.9),
         _p(with_layer.durations, 0.9)),
        ("caller latency, median ms", statistics.median(without.latencies),
         statistics.median(with_layer.latencies)),
        ("throughput, invocations/s", without.invokes / without.seconds,
         with_layer.invokes / with_layer.seconds),
    ]
    lines = [f"**{args.invokes} warm invocations x {args.rounds} rounds, {args.workers} workers, "
             f"{args.in_flight} in flight, {args.calls} loopback GETs each**", "",
             "| | without the layer | with httprecap | difference |", "|---|---|---|---|"]
    for name, plain, traced in rows:
        lines.append(f"| {name} | {plain:.2f} | {traced:.2f} | {traced - plain:+.2f} |")
    lines += ["", f"Recaps shipped with the layer: {with_layer.recaps} of {with_layer.invokes} "
              "invocations (plus warm-ups)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=400)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"`{COMMAND} --invokes {args.invokes} --workers {args.workers} --in-flight "
          f"{args.in_flight} --calls {args.calls} --rounds {args.rounds}` "
          f"(Python {sys.version.split()[0]})\n")
    print(table(measure(args), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
