"""The benchmark suite: `python -m bench` (full; writes its generated report to
build/bench/BENCHMARKS-full.md, the figures docs/BENCHMARKS.md quotes) and
`python -m bench --quick --check` (CI: a couple of minutes; non-zero exit when httprecap's
overhead passes the bounds of bench/targets.py). Dev-time; runs on the local sandbox.

Every configuration available here is measured in the same run, interleaved round by round:
(a) no layer, (b) httprecap, (c) the OpenTelemetry layer's equivalent, (d) the X-Ray SDK.
(c) and (d) need the `bench` extra (`pip install -e '.[bench]'` plus
opentelemetry-instrumentation-aws-lambda); without it they are skipped and the report says
so, and --check still judges httprecap against (a).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    coldstart,
    configs,
    ext_startup,
    extension_time,
    host,
    machine,
    micro,
    profiles,
    report,
    sandbox_overhead,
    startup,
    warm,
)
from bench.servers import Servers
from bench.targets import check_bounds

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "build" / "bench" / "BENCHMARKS-full.md"  # generated: never docs/
QUICK_DOC = ROOT / "build" / "bench" / "BENCHMARKS-quick.md"
RESULTS = ROOT / "build" / "bench" / "results.json"
COMPANION_TIMEOUT_S = 300
CHECKED_STEPS = ("micro", "warm", "coldstart")  # what --check judges must have been measured

FULL = {"startup": {"rounds": 40}, "ext_startup": {"rounds": 15}, "coldstart": {"rounds": 15},
        "warm": {"rounds": 60}, "extension": {"rounds": 20, "big": 10_000},
        "micro": {"rounds": 40, "block": 250}, "sandbox": {"invokes": 200}}
QUICK = {"startup": {"rounds": 5}, "ext_startup": {"rounds": 5}, "coldstart": {"rounds": 6},
         "warm": {"rounds": 8}, "extension": {"rounds": 5, "big": 0},
         "micro": {"rounds": 20, "block": 100}, "sandbox": {"invokes": 0}}
COMPANIONS = {  # focused benches, run as they are (full runs only)
    "bench/extension_ship.py": ["-m", "bench.extension_ship", "--repeat", "20", "--startups", "15"],
    "bench/percall.py": ["bench/percall.py", "--pairs", "20", "--otel"],
    "bench/percall_async.py": ["-m", "bench.percall_async", "--pairs", "20"],
    "bench/managed_instances.py": ["-m", "bench.managed_instances", "--invokes", "200",
                                   "--rounds", "3"],
}


def missing_peers() -> dict[str, str]:
    """Configurations that cannot run here, with the reason."""
    missing = {}
    if not _importable("opentelemetry.instrumentation.aws_lambda") or \
            not _importable("opentelemetry.instrumentation.requests") or \
            shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent)) is None:
        missing["otel"] = ("OpenTelemetry packages not installed (`pip install -e '.[bench]' "
                           "opentelemetry-instrumentation-aws-lambda`)")
    if not _importable("aws_xray_sdk"):
        missing["xray"] = "aws-xray-sdk not installed (`pip install -e '.[bench]'`)"
    return missing


def _importable(name: str) -> bool:
    """Whether `name` can be imported (find_spec raises when a parent package is missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _step(name: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {name}", file=sys.stderr, flush=True)


def run(quick: bool, pinned: bool, with_profiles: bool) -> dict[str, Any]:
    params = QUICK if quick else FULL
    started = time.time()
    skipped = missing_peers()
    results: dict[str, Any] = {"quick": quick, "pinned": pinned, "params": params,
                               "machine": machine.describe(), "skipped": skipped,
                               "load": _load(), "errors": {}}
    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        _step("building the layer")
        setups = configs.prepare(Path(work), servers.ports)
        setups = {name: setup for name, setup in setups.items() if name not in skipped}
        results["setups"] = list(setups)
        for key, measure in _steps(setups, servers, params, with_profiles):
            _step(key)
            try:
                results[key] = measure()
            except Exception as exc:  # one broken measurement must not lose the others
                results["errors"][key] = f"{type(exc).__name__}: {exc}"
                print(f"[bench] {key} failed: {results['errors'][key]}", file=sys.stderr)
    if "warm" in results:
        results["warm"], results["warm_sent"] = results["warm"]
    if not quick:
        results["companions"] = _companions()
    results["load_end"] = _load()
    results["finished"] = time.time()
    results["elapsed_s"] = results["finished"] - started
    return results


def _load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def _steps(setups: dict[str, configs.Setup], servers: Servers, params: dict[str, Any],
           with_profiles: bool) -> list[tuple[str, Callable[[], Any]]]:
    """(results key, measurement) in the order they run."""
    ours = setups["httprecap"]
    layer = ours.layers[0]
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("startup", lambda: startup.measure(layer, servers.ports,
                                            params["startup"]["rounds"], only=setups)),
        ("startup_bare", lambda: startup.measure(
            layer, servers.ports, params["startup"]["rounds"] * startup.BARE_ROUNDS,
            startup.BARE, only=setups)),
        ("ext_startup", lambda: ext_startup.measure(layer, params["ext_startup"]["rounds"])),
        ("coldstart", lambda: coldstart.measure(setups, servers, params["coldstart"]["rounds"])),
        ("warm", lambda: warm.measure(setups, servers, params["warm"]["rounds"])),
        ("extension", lambda: extension_time.measure(ours, servers,
                                                     params["extension"]["rounds"],
                                                     big=params["extension"]["big"])),
        ("micro", lambda: _micro(servers, params["micro"], "otel" in setups)),
    ]
    invokes = params["sandbox"]["invokes"]
    if invokes:
        steps.append(("sandbox", lambda: {
            f"{invokes} warm invokes of examples/hello, freeze {'on' if freeze else 'off'}":
            sandbox_overhead.measure(invokes, freeze) for freeze in (True, False)}))
    if with_profiles:
        steps.append(("profiles", lambda: _profiles(ours, servers)))
    return steps


def _micro(servers: Servers, params: dict[str, int], with_otel: bool) -> Any:
    if not with_otel:
        micro.MODES = ("none", "httprecap")
    return micro.measure(servers, params["rounds"], params["block"])


def _profiles(setup: configs.Setup, servers: Servers) -> dict[str, str]:
    return {
        "extension, 1,000-call invokes": profiles.sampled(setup, servers, "extension", 1000, 10),
        "runtime, 0-call invokes": profiles.sampled(setup, servers, "runtime", 0, 300),
        "runtime, 100-call invokes": profiles.sampled(setup, servers, "runtime", 100, 20),
        "extension imports": profiles.extension_imports(setup.layers[0]),
    }


def _companions() -> dict[str, str]:
    found = {}
    for name, arguments in COMPANIONS.items():
        if not (ROOT / name).exists():
            continue
        _step(f"companion {name}")
        command = [sys.executable, *arguments]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=COMPANION_TIMEOUT_S, check=False)
            text = done.stdout if done.returncode == 0 else \
                f"(exited {done.returncode})\n{done.stdout}\n{done.stderr[-2000:]}"
        except subprocess.TimeoutExpired:
            text = f"(did not finish within {COMPANION_TIMEOUT_S} s)"
        found[" ".join(["python", *arguments])] = text
    return found


def load(path: Path) -> dict[str, Any]:
    """Saved results, with the call counts of the extension figures as numbers again."""
    results: dict[str, Any] = json.loads(path.read_text())
    extension = results.get("extension")
    if extension:
        for key in ("extension_ms", "after_response_ms"):
            if key in extension:
                extension[key] = {int(k): v for k, v in extension[key].items()}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (CI)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when httprecap's overhead passes the bounds")
    parser.add_argument("--output", type=Path, help="where to write the Markdown (default: "
                        "build/bench/BENCHMARKS-full.md, or build/bench/BENCHMARKS-quick.md "
                        "with --quick)")
    parser.add_argument("--no-profiles", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: write the Markdown from a saved results.json")
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    if args.render:
        results = load(args.render)
    else:
        pinned = host.pin_unless(args)
        results = run(args.quick, pinned, with_profiles=not (args.quick or args.no_profiles))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, default=str))
    output = args.output or (QUICK_DOC if results["quick"] else DOC)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.render(results))
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}"
          + ("" if args.render else f" and {RESULTS.relative_to(ROOT)}"))
    breaches = check_bounds(results) + [f"{key} could not be measured: {error}"
                                        for key, error in results["errors"].items()
                                        if key in CHECKED_STEPS]
    for breach in breaches:
        print(f"bench check: {breach}", file=sys.stderr)
    if args.check:
        print("bench check: " + ("FAILED" if breaches else "httprecap within bounds"))
        return 1 if breaches else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
