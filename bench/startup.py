"""Bench: start-up time and memory the runtime process gains under each configuration, for
a handler importing requests and boto3 (dev-time; plain processes, no sandbox).

Each run starts the runtime's interpreter the way its configuration does and imports
requests and boto3: (a) `python -c "import requests, boto3"`; (b) the same through the
layer's `httprecap-wrapper` (its sitecustomize installs the internal extension first);
(c) through the OpenTelemetry layer's `otel-instrument` (auto-instrumentation sitecustomize,
SDK and exporter configured); (d) importing `aws_xray_sdk` and `patch(["requests",
"botocore"])` first, as the handler does. Rounds run the four in rotating order; the added
time is the round's difference to (a), its median over rounds reported with min..max; so is
the added CPU time (user + system, from wait4: it does not count time spent waiting for the
CPU), and the peak RSS. The same without the imports isolates what the configuration adds to the
interpreter's start (wrapper, sitecustomize, SDK set-up) from the libraries' imports, whose
own run-to-run spread (tens of ms on this machine) hides a few ms.

Every process leaves with `os._exit(0)` once its imports are done: what comes after is the
interpreter's finalization (a garbage collection over every object, some 40 ms here once boto3
is loaded, longer the more modules hold on to others), which a Lambda runtime never runs (it
is frozen between invocations, then stopped), so it is no part of a start-up figure.

With `--baseline DIR` (another source tree holding core/, internal/, external/ and wrapper/,
e.g. `git archive HEAD~3 core internal external wrapper | tar -x -C DIR`), only (a) and
httprecap run, this tree's layer and one built from DIR in rotating order, and the table gives
this tree's paired difference to the baseline's (wall and CPU) as well. A third table takes
the libraries' imports out altogether: requests and boto3 are imported first, then the
internal extension is installed, every post-import hook firing at once, and only that is
timed (in the process): httprecap's own work, to a tenth of a millisecond where the whole
process start moves by tens.

    .venv/bin/python -m bench.startup [--rounds 20] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path

from bench import configs, host, otel_layer
from bench.stats import Summary, differences, rotated
from httprecap.sandbox.opt import unpack_layers

LEAVE = "import os; os._exit(0)"  # no finalization: see the module docstring
IMPORTS = "import requests, boto3; " + LEAVE
BARE = LEAVE
XRAY = "from aws_xray_sdk.core import patch; patch(['requests', 'botocore']); "
Samples = dict[str, dict[str, list[float]]]
BARE_ROUNDS = 3  # runs without the imports are short and vary less: more rounds for the same time


def commands(opt: Path, otel_dir: Path, code: str = IMPORTS) -> dict[str, list[str]]:
    """The command of each configuration; `code` BARE leaves the libraries out (no X-Ray)."""
    python = sys.executable
    found = {"none": [python, "-c", code],
             "httprecap": [str(opt / "httprecap-wrapper"), python, "-c", code],
             "otel": [str(otel_dir / "otel-instrument"), python, "-c", code],
             "xray": [python, "-c", XRAY + code]}
    if code == BARE:
        del found["xray"]  # its patch() imports requests and botocore itself
    return found


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


def run_once(command: list[str], env: Mapping[str, str]) -> tuple[float, float, float]:
    """(wall ms, CPU ms, peak RSS MiB) of one process from spawn to exit."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=dict(env), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_maxrss / 1024


def measure(layer_zip: Path, ports: Mapping[str, int], rounds: int,
            code: str = IMPORTS, only: Collection[str] | None = None) -> Samples:
    """Samples per configuration (those in `only`, when given: peers may not be installed)."""
    with tempfile.TemporaryDirectory() as scratch:
        opt = Path(scratch) / "opt"
        unpack_layers([layer_zip], opt)
        runs = {name: command for name, command in
                commands(opt, otel_layer.build(Path(scratch) / "otel"), code).items()
                if only is None or name in only}
        return sample(runs, environment(ports), rounds)


def sample(runs: Mapping[str, list[str]], env: Mapping[str, str], rounds: int) -> Samples:
    """`rounds` rounds of every command, in rotating order, after one warm-up run each."""
    for command in runs.values():  # warm the page cache and the bytecode caches
        run_once(command, env)
    samples: Samples = {name: {"ms": [], "cpu_ms": [], "peak_mib": []} for name in runs}
    for number in range(rounds):
        for name in rotated(list(runs), number):
            elapsed, cpu, peak = run_once(runs[name], env)
            samples[name]["ms"].append(elapsed)
            samples[name]["cpu_ms"].append(cpu)
            samples[name]["peak_mib"].append(peak)
    return samples


def compare(layers: Mapping[str, Path], ports: Mapping[str, int], rounds: int,
            code: str = IMPORTS) -> Samples:
    """(a) and each layer's httprecap configuration (keyed by the layers' names)."""
    with tempfile.TemporaryDirectory() as scratch:
        runs = {"none": [sys.executable, "-c", code]}
        for number, (name, layer_zip) in enumerate(layers.items()):
            opt = Path(scratch) / f"opt{number}"
            unpack_layers([layer_zip], opt)
            runs[name] = [str(opt / "httprecap-wrapper"), sys.executable, "-c", code]
        return sample(runs, environment(ports), rounds)


# httprecap's own start-up work, the libraries' imports left out (see the module docstring).
OWN_WORK = """
import os, sys, time
import boto3, botocore.client, requests, urllib3, urllib.request
sys.path[:0] = [LIB]
started = time.perf_counter()
from httprecap.internal import bootstrap
bootstrap.install({"HTTPRECAP_PORT": "9"})
print((time.perf_counter() - started) * 1000, flush=True)
os._exit(0)
"""


def own_work(layers: Mapping[str, Path], rounds: int) -> dict[str, list[float]]:
    """ms of `install()` (with its imports) per layer, the libraries imported before it."""
    with tempfile.TemporaryDirectory() as scratch:
        codes = {}
        for number, (name, layer_zip) in enumerate(layers.items()):
            opt = Path(scratch) / f"opt{number}"
            unpack_layers([layer_zip], opt)
            codes[name] = OWN_WORK.replace("LIB", repr(str(opt / "httprecap" / "lib")))
        found: dict[str, list[float]] = {name: [] for name in layers}
        for number in range(rounds + 1):  # the first round warms the caches
            for name in rotated(list(layers), number):
                done = subprocess.run([sys.executable, "-c", codes[name]], capture_output=True,
                                      text=True, check=True, timeout=60)
                if number:
                    found[name].append(float(done.stdout))
        return found


def own_work_table(found: Mapping[str, list[float]], ours: str, baseline: str) -> str:
    return ("| configuration | install, ms | minus baseline, ms |\n|---|---|---|\n" +
            "\n".join(f"| {name} | {Summary.of(samples).text(2)} | "
                      f"{differences(samples, found[baseline]).text(2) if name == ours else ''} |"
                      for name, samples in found.items()))


def comparison(samples: Samples, ours: str, baseline: str) -> str:
    """Added to (a) by each layer, and `ours` minus `baseline` round by round."""
    lines = ["| configuration | ms | added to (a), ms | added CPU, ms | "
             f"minus {baseline}, ms | minus it, CPU ms |", "|---|---|---|---|---|---|"]
    base = samples["none"]
    for name, figures in samples.items():
        against = (("", "") if name != ours else
                   (differences(figures["ms"], samples[baseline]["ms"]).text(1),
                    differences(figures["cpu_ms"], samples[baseline]["cpu_ms"]).text(1)))
        lines.append(f"| {name} | {Summary.of(figures['ms']).text(1)} | "
                     f"{differences(figures['ms'], base['ms']).text(1)} | "
                     f"{differences(figures['cpu_ms'], base['cpu_ms']).text(1)} | "
                     f"{against[0]} | {against[1]} |")
    return "\n".join(lines)


def fastest_added(samples: Samples, name: str) -> float:
    """The fastest run of `name` minus the fastest of (a): steadier on a busy machine."""
    return min(samples[name]["ms"]) - min(samples["none"]["ms"])


def table(samples: Samples) -> str:
    lines = ["| configuration | start-up + imports, ms | added to (a), ms | fastest runs, "
             "added ms | added CPU, ms | peak RSS, MiB | added to (a), MiB |",
             "|---|---|---|---|---|---|---|"]
    base = samples["none"]
    for name, figures in samples.items():
        lines.append(f"| {configs.LABELS[name]} | {Summary.of(figures['ms']).text(1)} | "
                     f"{differences(figures['ms'], base['ms']).text(1)} | "
                     f"{fastest_added(samples, name):+.1f} | "
                     f"{differences(figures.get('cpu_ms', []), base.get('cpu_ms', [])).text(1)} | "
                     f"{Summary.of(figures['peak_mib']).text(1)} | "
                     f"{differences(figures['peak_mib'], base['peak_mib']).text(1)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    host.pin_unless(args)
    from bench.servers import Servers
    from httprecap.layer.build import build_layer

    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        layer = build_layer(Path(work) / "httprecap-layer.zip").path
        if args.baseline is not None:
            base = build_layer(Path(work) / "baseline.zip", source_root=args.baseline).path
            layers = {"this tree": layer, "baseline": base}
            print(comparison(compare(layers, servers.ports, args.rounds), "this tree",
                             "baseline"))
            print("\nInterpreter start only (no imports):\n")
            print(comparison(compare(layers, servers.ports, args.rounds * BARE_ROUNDS, BARE),
                             "this tree", "baseline"))
            print("\nhttprecap's own work, requests and boto3 imported first:\n")
            print(own_work_table(own_work(layers, args.rounds * BARE_ROUNDS), "this tree",
                                 "baseline"))
            return 0
        print(table(measure(layer, servers.ports, args.rounds)))
        print("\nInterpreter start only (no imports):\n")
        print(table(measure(layer, servers.ports, args.rounds * BARE_ROUNDS, BARE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
