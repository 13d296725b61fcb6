"""Bench: the local sandbox's own cost per warm invocation, without any layer (dev-time).

Invokes examples/hello N times in one warm environment (after a warm-up) and compares what the
caller sees with what the runtime spent: the difference is the sandbox's overhead (HTTP hops of
the Runtime API, hand-offs between threads, thaw and freeze).

    .venv/bin/python -m bench.sandbox_overhead [--invokes 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from httprecap.sandbox import FunctionConfig, Sandbox

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench.sandbox_overhead"


def measure(invokes: int, freeze: bool) -> dict[str, list[float]]:
    config = FunctionConfig(code_dir=ROOT / "examples" / "hello", handler="app.handler",
                            freeze=freeze)
    rows: dict[str, list[float]] = {"caller: invoke() to response": [],
                                    "caller: whole invoke() call": [],
                                    "runtime: event handed to its next /next": [],
                                    "sandbox overhead (whole call - runtime)": []}
    with Sandbox(config) as sandbox:
        sandbox.invoke({"name": "warm-up"})
        for number in range(invokes):
            started = time.perf_counter()
            result = sandbox.invoke({"name": str(number)})
            whole_ms = (time.perf_counter() - started) * 1000
            runtime_ms = _runtime_ms(sandbox.telemetry, result.request_id)
            rows["caller: invoke() to response"].append(result.response_latency_ms)
            rows["caller: whole invoke() call"].append(whole_ms)
            rows["runtime: event handed to its next /next"].append(runtime_ms)
            rows["sandbox overhead (whole call - runtime)"].append(whole_ms - runtime_ms)
    return rows


def _runtime_ms(events: list[dict[str, object]], request_id: str) -> float:
    for event in reversed(events):
        record = event["record"]
        if event["type"] == "platform.runtimeDone" and isinstance(record, dict) and \
                record["requestId"] == request_id:
            return float(record["metrics"]["durationMs"])
    raise RuntimeError(f"no platform.runtimeDone for {request_id}")


def table(rows: dict[str, list[float]], title: str) -> str:
    lines = [f"**{title}**", "", "| ms per warm invoke | median | min | max |", "|---|---|---|---|"]
    for name, values in rows.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | "
                     f"{max(values):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"`{COMMAND} --invokes {args.invokes}` (Python {sys.version.split()[0]})\n")
    for freeze in (True, False):
        title = f"{args.invokes} warm invokes of examples/hello, freeze {'on' if freeze else 'off'}"
        print(table(measure(args.invokes, freeze), title) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
