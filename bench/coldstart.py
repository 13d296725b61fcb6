"""Bench: cold start (init duration) of a function importing requests and boto3, in the local
sandbox, under each configuration (dev-time).

Each round starts a fresh sandbox per configuration (in an order that rotates from round to
round), invokes it once with no calls, and keeps the platform's figures: `initDurationMs`
(the whole init: extensions launched and ready, runtime started, handler imported), the
caller's latency of that first invoke (init included) and the peak RSS of the runtime process
and of the extension. Ratios to (a) are made round by round.

    .venv/bin/python -m bench.coldstart [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bench import configs, host
from bench.configs import Setup
from bench.servers import Servers
from bench.stats import Summary, ratios, rotated

Samples = dict[str, dict[str, list[float]]]
METRICS = ("init_ms", "first_response_ms", "runtime_peak_mib", "extension_peak_mib")


def measure(setups: Mapping[str, Setup], servers: Servers, rounds: int) -> Samples:
    samples: Samples = {name: {metric: [] for metric in METRICS} for name in setups}
    for number in range(rounds):
        for name in rotated(list(setups), number):
            for metric, value in _one_cold_start(setups[name], servers).items():
                samples[name][metric].append(value)
    return samples


def _one_cold_start(setup: Setup, servers: Servers) -> dict[str, float]:
    with setup.sandbox() as sandbox:
        result = sandbox.invoke(configs.event(servers.url("upstream"), 0),
                                trace_id=configs.TRACE_ID)
        if not result.ok or result.init_duration_ms is None:
            raise configs.invoke_failed(f"{setup.name} (cold)", sandbox, result.payload)
        memory = host.sandbox_memory(sandbox.opt_dir)
    extension = memory.get("extension")
    return {"init_ms": result.init_duration_ms,
            "first_response_ms": result.response_latency_ms,
            "runtime_peak_mib": memory["runtime"].peak_mib,
            "extension_peak_mib": extension.peak_mib if extension else 0.0}


def table(samples: Samples) -> str:
    lines = ["| configuration | init duration, ms | ratio to (a) | first response, ms | "
             "runtime peak RSS, MiB | extension peak RSS, MiB |",
             "|---|---|---|---|---|---|"]
    base = samples["none"]["init_ms"]
    for name, figures in samples.items():
        extension = Summary.of(figures["extension_peak_mib"])
        lines.append(
            f"| {configs.LABELS[name]} | {Summary.of(figures['init_ms']).text(0)} | "
            f"{ratios(figures['init_ms'], base).text(2, 'x')} | "
            f"{Summary.of(figures['first_response_ms']).text(0)} | "
            f"{Summary.of(figures['runtime_peak_mib']).text(1)} | "
            f"{extension.text(1) if extension.median else 'n/a'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    host.pin_unless(args)
    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        setups = configs.prepare(Path(work), servers.ports)
        print(table(measure(setups, servers, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
