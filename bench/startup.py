"""Bench: start-up time and memory the runtime process gains under each configuration, for
a handler importing requests and boto3 (dev-time; plain processes, no sandbox).

Each run starts the runtime's interpreter the way its configuration does and imports
requests and boto3: (a) `python -c "import requests, boto3"`; (b) the same through the
layer's `httprecap-wrapper` (its sitecustomize installs the internal extension first);
(c) through the OpenTelemetry layer's `otel-instrument` (auto-instrumentation sitecustomize,
SDK and exporter configured); (d) importing `aws_xray_sdk` and `patch(["requests",
"botocore"])` first, as the handler does. Rounds run the four in rotating order; the added
time is the round's difference to (a), its median over rounds reported with min..max. Peak
RSS of each process comes from wait4.

    .venv/bin/python -m bench.startup [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bench import configs, host, otel_layer
from bench.stats import Summary, differences, rotated
from httprecap.sandbox.opt import unpack_layers

IMPORTS = "import requests, boto3"
XRAY = "from aws_xray_sdk.core import patch; patch(['requests', 'botocore']); "
Samples = dict[str, dict[str, list[float]]]


def commands(opt: Path, otel_dir: Path) -> dict[str, list[str]]:
    python = sys.executable
    return {"none": [python, "-c", IMPORTS],
            "httprecap": [str(opt / "httprecap-wrapper"), python, "-c", IMPORTS],
            "otel": [str(otel_dir / "otel-instrument"), python, "-c", IMPORTS],
            "xray": [python, "-c", XRAY + IMPORTS]}


def environment(ports: Mapping[str, int]) -> dict[str, str]:
    """What the runtime process has that these configurations read; nothing of ours."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "bench",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "_HANDLER": "app.handler",
           "LAMBDA_TASK_ROOT": str(configs.FUNCTIONS),
           "HTTPRECAP_PORT": str(ports["collector"]),
           "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{ports['xray']}"}
    env.update({key: value for key, value in otel_layer.env(ports["otlp"]).items()
                if key.startswith("OTEL_")})
    return env


def run_once(command: list[str], env: Mapping[str, str]) -> tuple[float, float]:
    """(wall ms, peak RSS MiB) of one process from spawn to exit."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=dict(env), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def measure(layer_zip: Path, ports: Mapping[str, int], rounds: int) -> Samples:
    with tempfile.TemporaryDirectory() as scratch:
        opt = Path(scratch) / "opt"
        unpack_layers([layer_zip], opt)
        runs = commands(opt, otel_layer.build(Path(scratch) / "otel"))
        env = environment(ports)
        for command in runs.values():  # warm the page cache and the bytecode caches
            run_once(command, env)
        samples: Samples = {name: {"ms": [], "peak_mib": []} for name in runs}
        for number in range(rounds):
            for name in rotated(list(runs), number):
                elapsed, peak = run_once(runs[name], env)
                samples[name]["ms"].append(elapsed)
                samples[name]["peak_mib"].append(peak)
    return samples


def table(samples: Samples) -> str:
    lines = ["| configuration | start-up + imports, ms | added to (a), ms | peak RSS, MiB | "
             "added to (a), MiB |", "|---|---|---|---|---|"]
    base = samples["none"]
    for name, figures in samples.items():
        lines.append(f"| {configs.LABELS[name]} | {Summary.of(figures['ms']).text(1)} | "
                     f"{differences(figures['ms'], base['ms']).text(1)} | "
                     f"{Summary.of(figures['peak_mib']).text(1)} | "
                     f"{differences(figures['peak_mib'], base['peak_mib']).text(1)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    host.pin_unless(args)
    from bench.servers import Servers
    from httprecap.layer.build import build_layer

    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        layer = build_layer(Path(work) / "httprecap-layer.zip").path
        print(table(measure(layer, servers.ports, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
