"""Bench: httprecap's per-invocation overhead on Lambda Managed Instances (dev-time).

Runs the LMI test function (`tests/e2e/functions/managed`: each invocation makes `--calls`
GETs to a loopback upstream) in the sandbox's LMI mode (`--workers` forked awslambdaric
workers, `--in-flight` invocations sent at a time) without any layer and with the built
httprecap layer (`AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`, recaps to a file).

Both environments stay up for the whole run and take the invocations in alternating batches
of `--batch`, the order of each pair rotating, so the drift of this shared machine falls on
both alike; every figure is a median over the batches (min..max), and every difference is
the median of the pairwise (adjacent batch) differences. Figures: the invocation's duration
as `platform.report` says it (start to response posted, the figure a user sees), the
caller's latency, the throughput, and the CPU time per invocation of the function's
processes (runtime and workers), of httprecap's extension and of the sandbox itself (this
process: the emulated platform, the upstream and the callers).

With `--baseline DIR` (another source tree holding core/, internal/, external/ and wrapper/)
a third environment runs the layer built from DIR, interleaved with the other two, and the
table gains its column and the paired differences of this tree's layer against it.

    .venv/bin/python -m bench.managed_instances [--invokes 400] [--rounds 2] [--batch 50]
        [--workers 4] [--in-flight 8] [--calls 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.configs import free_port
from bench.stats import Summary, differences, rotated
from httprecap.demo.upstream import UpstreamServer
from httprecap.layer.build import build_layer
from httprecap.sandbox import FunctionConfig, InvokeResult, Sandbox

ROOT = Path(__file__).resolve().parent.parent
FUNCTION = ROOT / "tests" / "e2e" / "functions" / "managed"
COMMAND = ".venv/bin/python -m bench.managed_instances"
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
ROLES = ("function", "extension", "sandbox")  # whose CPU time is counted


class Figures:
    """What one configuration measured, one sample per batch."""

    def __init__(self) -> None:
        self.duration: list[float] = []  # median of the batch
        self.duration_p90: list[float] = []
        self.latency: list[float] = []
        self.throughput: list[float] = []
        self.cpu: dict[str, list[float]] = {role: [] for role in ROLES}  # ms per invocation
        self.machine: list[float] = []  # CPUs of the machine busy during the batch (anyone's)
        self.invokes = 0
        self.recaps = 0


class Environment:
    """One sandbox kept up for the whole run, and the processes it started."""

    def __init__(self, sandbox: Sandbox, args: argparse.Namespace) -> None:
        self.sandbox = sandbox
        self.args = args
        self.pids: dict[int, str] = {}  # pid -> role

    def event(self, n: int) -> dict[str, Any]:
        return {"n": n, "calls": [f"/fast?inv={n}&i={i}" for i in range(self.args.calls)]}

    def warm(self) -> None:
        """Warm every worker (the bench is about warm invocations), then find the processes."""
        with ThreadPoolExecutor(self.args.workers) as callers:
            list(callers.map(lambda n: self.sandbox.invoke(self.event(-1 - n)),
                             range(self.args.workers * 4)))
        self.pids = _processes_of(self.sandbox.runtime_api)

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds used so far by the function's processes and by the extension."""
        used = dict.fromkeys(ROLES[:2], 0.0)
        for pid, role in self.pids.items():
            used[role] += _cpu_s(pid)
        return used

    def batch(self, first: int, count: int, figures: Figures) -> None:
        before, own, machine = self.cpu_s(), time.process_time(), _machine_busy_s()
        started = time.perf_counter()
        with ThreadPoolExecutor(self.args.in_flight) as callers:
            results = list(callers.map(lambda n: self.sandbox.invoke(self.event(n)),
                                       range(first, first + count)))
        seconds = time.perf_counter() - started
        own = time.process_time() - own
        machine = _machine_busy_s() - machine
        after = self.cpu_s()
        failed = [result for result in results if not result.ok]
        if failed:
            raise RuntimeError(f"an invocation failed ({failed[0].status}, "
                               f"{failed[0].error_type}: {failed[0].payload[:200]!r}); "
                               "the figures would mean nothing")
        durations = _durations(self.sandbox, results)
        figures.duration.append(statistics.median(durations))
        figures.duration_p90.append(_p(durations, 0.9))
        figures.latency.append(statistics.median(r.response_latency_ms for r in results))
        figures.throughput.append(count / seconds)
        for role in ROLES[:2]:
            figures.cpu[role].append((after[role] - before[role]) * 1000 / count)
        figures.cpu["sandbox"].append(own * 1000 / count)
        figures.machine.append(machine / seconds)
        figures.invokes += count


def _config(args: argparse.Namespace, env: dict[str, str], layers: list[Path]) -> FunctionConfig:
    return FunctionConfig(code_dir=FUNCTION, handler="app.handler", layers=layers, env=env,
                          timeout_s=30, memory_mb=4096, max_concurrency=args.workers)


def _processes_of(runtime_api: str) -> dict[int, str]:
    """pid -> role of every process of this sandbox's environment (they all see its
    AWS_LAMBDA_RUNTIME_API; the extension is the one started from /opt/extensions)."""
    marker = f"AWS_LAMBDA_RUNTIME_API={runtime_api}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ:
            extension = b"/opt/extensions/" in command or b"httprecap.external" in command
            found[int(entry)] = "extension" if extension else "function"
    return found


def _cpu_s(pid: int) -> float:
    """utime + stime of a live process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (not idle, not waiting for I/O) so far."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) * TICK_S


def _durations(sandbox: Sandbox, results: list[InvokeResult]) -> list[float]:
    """platform.report durationMs of each result (LMI: start to response posted)."""
    wanted = {result.request_id for result in results}
    found = []
    for event in sandbox.telemetry:
        record = event["record"]
        if event["type"] == "platform.report" and record["requestId"] in wanted:
            found.append(float(record["metrics"]["durationMs"]))
    return found


def _count_recaps(path: Path) -> int:
    if not path.exists():
        return 0
    return sum('"phase":"invoke"' in line.replace(" ", "") for line in path.open())


def measure(args: argparse.Namespace) -> dict[str, Figures]:
    scratch = Path(tempfile.mkdtemp(prefix="httprecap-bench-lmi-"))
    layers = {"with": build_layer(scratch / "httprecap-layer.zip").path}
    if args.baseline is not None:
        layers["baseline"] = build_layer(scratch / "baseline-layer.zip",
                                         source_root=args.baseline).path
    figures = {name: Figures() for name in ("without", *layers)}
    with UpstreamServer() as upstream, ExitStack() as stack:
        configs = {"without": _config(args, {"UPSTREAM_URL": upstream.url}, [])}
        for name, layer in layers.items():
            configs[name] = _config(args, {"UPSTREAM_URL": upstream.url,
                                           "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",
                                           "HTTPRECAP_SINKS": f"file://{scratch}/{name}.jsonl",
                                           # Two layers up at once: each needs its own ports.
                                           "HTTPRECAP_PORT": str(free_port()),
                                           "HTTPRECAP_TELEMETRY_PORT": str(free_port())},
                                    [layer])
        environments = {name: Environment(stack.enter_context(Sandbox(config)), args)
                        for name, config in configs.items()}
        for environment in environments.values():
            environment.warm()
        batches = [(first, min(args.batch, args.invokes - first))
                   for first in range(0, args.invokes, args.batch)]
        pair = 0
        for _ in range(args.rounds):
            for first, count in batches:
                for name in rotated(list(configs), pair):
                    environments[name].batch(first, count, figures[name])
                pair += 1
    for name in layers:
        figures[name].recaps = _count_recaps(scratch / f"{name}.jsonl")
    return figures


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _signed(summary: Summary, digits: int) -> str:
    return (f"{summary.median:+.{digits}f} ({summary.low:+.{digits}f}.."
            f"{summary.high:+.{digits}f})")


def _minus(values: list[float], baseline: list[float]) -> list[float]:
    """Batch-by-batch differences."""
    return [value - base for value, base in zip(values, baseline, strict=True)]


def _total(figures: Figures) -> list[float]:
    return [sum(parts) for parts in zip(*figures.cpu.values(), strict=True)]


def _mean(samples: list[float]) -> Summary:
    """Mean, min and max: CPU time is read in clock ticks (10 ms), coarse for one batch but
    exact enough summed over all of them (every batch has the same size but maybe the last)."""
    if not samples:
        return Summary.of(samples)
    return Summary(statistics.fmean(samples), min(samples), max(samples), len(samples))


def _rows(figures: dict[str, Figures]) -> list[tuple[str, dict[str, list[float]], int]]:
    """(name, samples per configuration, digits) of every row of the table; a CPU row
    (name starting with CPU) is summarised by its mean (see _mean)."""
    def pick(get: Any) -> dict[str, list[float]]:
        return {name: get(figure) for name, figure in figures.items()}

    rows = [("duration (platform.report), median ms", pick(lambda f: f.duration), 2),
            ("duration (platform.report), p90 ms", pick(lambda f: f.duration_p90), 2),
            ("caller latency, median ms", pick(lambda f: f.latency), 2),
            ("throughput, invocations/s", pick(lambda f: f.throughput), 1)]
    for role, label in (("function", "the function's processes (runtime, workers)"),
                        ("extension", "httprecap's extension"),
                        ("sandbox", "the sandbox (platform, upstream, callers)")):
        rows.append((f"CPU per invocation, {label}, ms",
                     pick(lambda f, role=role: f.cpu[role]), 2))
    rows.append(("CPU per invocation, all, ms", pick(_total), 2))
    return rows


def table(figures: dict[str, Figures], args: argparse.Namespace) -> str:
    with_layer = figures["with"]
    pairs = len(figures["without"].duration)
    baseline = "baseline" in figures
    lines = [f"**{args.invokes} warm invocations x {args.rounds} rounds per configuration, "
             f"in {pairs} interleaved {'triples' if baseline else 'pairs'} of batches of "
             f"{args.batch}; {args.workers} workers, {args.in_flight} in flight, "
             f"{args.calls} loopback GETs each**", "",
             "Each cell: median over the batches (min..max); a difference is the median of "
             "the batch-by-batch differences (min..max). CPU rows: the mean over the batches "
             "instead (CPU time is read in 10 ms clock ticks, coarse for one batch alone).",
             ""]
    if baseline:
        lines += [f"Baseline: the layer built from {args.baseline}.", "",
                  "| | without the layer | baseline | with httprecap | difference | "
                  "against the baseline |", "|---|---|---|---|---|---|"]
    else:
        lines += ["| | without the layer | with httprecap | difference |", "|---|---|---|---|"]
    for name, samples, digits in _rows(figures):
        summary = _mean if name.startswith("CPU") else Summary.of
        cells = [summary(samples["without"]).text(digits)]
        if baseline:
            cells.append(summary(samples["baseline"]).text(digits))
        cells += [summary(samples["with"]).text(digits),
                  _signed(summary(_minus(samples["with"], samples["without"])), digits)]
        if baseline:
            cells.append(_signed(summary(_minus(samples["with"], samples["baseline"])),
                                 digits))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Recaps shipped with the layer: {with_layer.recaps} of {with_layer.invokes} "
              "invocations (plus warm-ups).", "", reading(figures)]
    return "\n".join(lines)


def reading(figures: dict[str, Figures]) -> str:
    """What the figures say about where the added time comes from."""
    cpus = os.cpu_count() or 1
    without, with_layer = figures["without"], figures["with"]
    busy = statistics.median(t * c / 1000 for t, c in
                             zip(without.throughput, _total(without), strict=True))
    added_cpu = _mean(_minus(_total(with_layer), _total(without))).median
    added_ms = differences(with_layer.duration, without.duration).median
    ours = {role: _mean(_minus(with_layer.cpu[role], without.cpu[role])).median
            for role in ROLES}
    machine = statistics.median(without.machine)
    text = (f"Reading: without the layer the environment keeps {busy:.1f} of this machine's "
            f"{cpus} CPUs busy ({machine:.1f} with everything else running on it), so every "
            "millisecond of CPU added per invocation costs latency and throughput. ")
    if machine >= 0.8 * cpus:
        text += (f"It is CPU-bound here: the layer adds {added_cpu:.2f} ms of CPU per "
                 f"invocation ({ours['function']:+.2f} in the function's processes, "
                 f"{ours['extension']:+.2f} in the extension, {ours['sandbox']:+.2f} in the "
                 f"sandbox, which delivers the extension's telemetry and samples the memory "
                 f"of one more process); with the CPUs saturated, "
                 f"that CPU shows up as the {added_ms:+.2f} ms of duration: the invocations "
                 "in flight wait for a CPU. On Lambda Managed Instances, whose instances "
                 "are sized for their concurrency, the added CPU is the figure that carries "
                 "over; the added duration depends on how busy the instance is.")
    else:
        text += (f"The layer adds {added_cpu:.2f} ms of CPU per invocation and "
                 f"{added_ms:+.2f} ms of duration.")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=400,
                        help="invocations per configuration and round")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50,
                        help="invocations per batch; the configurations alternate by batch")
    parser.add_argument("--baseline", type=Path,
                        help="another source tree whose layer runs as a third configuration")
    args = parser.parse_args(argv)
    print(f"`{COMMAND} --invokes {args.invokes} --workers {args.workers} --in-flight "
          f"{args.in_flight} --calls {args.calls} --rounds {args.rounds} --batch {args.batch}"
          f"{'' if args.baseline is None else f' --baseline {args.baseline}'}` "
          f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n")
    print(table(measure(args), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
