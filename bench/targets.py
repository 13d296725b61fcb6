"""The performance targets, read against one run's results (dev-time).

Each `Target` says what was promised, what this run measured, whether it is met, and, when
it is not, by how much and where the time goes (pointing at the profiles of the same run).
`check_bounds` holds the generous bounds of `python -m bench --check`: far above the targets,
so machine noise never trips them, but low enough that a regression cannot land silently.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.micro import fastest_added
from bench.startup import fastest_added as startup_fastest
from bench.stats import Summary, differences, ratios

# --check: httprecap's overhead may not exceed these (the targets are far stricter). Per call:
# 50 µs, or a tenth of the bare call where that is more (boto3's call is ~1.5 ms of CPU and
# its block-to-block noise in a quick run is larger than 50 µs).
CHECK_PER_CALL_US = 50.0
CHECK_PER_CALL_SHARE = 0.10
CHECK_WARM_RATIO = 1.5
CHECK_COLD_RATIO = 1.5


@dataclass(frozen=True)
class Target:
    area: str  # what is measured: per call, start-up, warm invocation, extension, memory...
    what: str
    bound: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _missed_by(value: float, bound: float, unit: str) -> str:
    if unit == "x":
        return f"missed by {value - bound:.2f}x ({value:.2f}x against {bound:.2f}x)"
    return f"missed by {value - bound:.2f} {unit} ({value / bound:.2f} times the bound)"


class Reading:
    """Derived figures of one run, shared by the targets and their notes."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.r = results

    def has(self, *keys: str) -> bool:
        return all(self.r.get(key) for key in keys)

    def per_call(self, client: str, mode: str = "httprecap", metric: str = "cpu") -> float:
        return _median(self.r["micro"][client][mode][metric])

    def warm(self, name: str, metric: str) -> list[float]:
        return list(self.r["warm"][name][metric])

    def warm_ratio(self, metric: str) -> Summary:
        return ratios(self.warm("httprecap", metric), self.warm("none", metric))

    def warm_added(self, metric: str) -> Summary:
        return differences(self.warm("httprecap", metric), self.warm("none", metric))

    def cold_ratio(self) -> Summary:
        cold = self.r["coldstart"]
        return ratios(cold["httprecap"]["init_ms"], cold["none"]["init_ms"])

    def cold_added(self) -> Summary:
        cold = self.r["coldstart"]
        return differences(cold["httprecap"]["init_ms"], cold["none"]["init_ms"])

    def startup_added(self) -> Summary:
        start = self.r["startup"]
        return differences(start["httprecap"]["ms"], start["none"]["ms"])

    def extension_ms(self, calls: int) -> float:
        return _median(self.r["extension"]["extension_ms"][calls])

    def after_response_ms(self, calls: int) -> float | None:
        """The runtime's overhead and the post-runtime time together (None in older results)."""
        after = self.r["extension"].get("after_response_ms")
        return _median(after[calls]) if after else None

    def ready_ms(self) -> float:
        return _median(self.r["ext_startup"]["ready_ms"])


def _per_call_targets(read: Reading) -> list[Target]:
    found = []
    for client in ("requests", "urllib3", "boto3"):
        ours, wall = read.per_call(client), read.per_call(client, metric="wall")
        fastest = fastest_added(read.r["micro"][client], "httprecap")
        caller = _median(read.r["micro"][client]["httprecap"].get("caller", []))
        met = ours <= 15.0
        note = "" if met else (
            f"{_missed_by(ours, 15.0, 'µs')}; {caller:.1f} µs of it in the caller's thread (the "
            f"capture wrappers), {ours - caller:.1f} µs in the sender thread (encoding and "
            "posting the record). Where it goes: profile *runtime, 100-call "
            "invokes* (the capture wrappers in internal/capture/: call.py `open_call`/`run`/"
            "`close`, requests.py `_send`, urllib3.py `_pool_urlopen`/`_run_first`, "
            "botocore.py; and the sender thread: internal/transport/encode.py `add_call`, "
            "internal/transport/sender.py `_next_batch`/`_post`).")
        found.append(Target("per call", f"per-call overhead, {client}", "≤ 15 µs",
                            f"{ours:.1f} µs CPU (fastest blocks {fastest:.1f} µs; wall "
                            f"{wall:.1f} µs)", met, note))
        if "otel" in read.r["micro"][client]:
            theirs = read.per_call(client, "otel")
            share = ours / theirs if theirs > 0 else float("inf")
            found.append(Target("per call", f"per-call overhead, {client}, vs OpenTelemetry",
                                "≤ 1/10 of OpenTelemetry's",
                                f"{share:.3f} ({ours:.1f} vs {theirs:.1f} µs CPU)",
                                share <= 0.1, "" if share <= 0.1 else
                                f"missed: {share:.2f} of OpenTelemetry's cost"))
    return found


def _cold_targets(read: Reading) -> list[Target]:
    ratio, added = read.cold_ratio(), read.cold_added()
    met = ratio.median <= 1.10
    note = ""
    cold = read.r["coldstart"]
    control = (f" For scale, an extension that does nothing (e) adds "
               f"{differences(cold['control']['init_ms'], cold['none']['init_ms']).median:+.0f}"
               " ms to the init here: most of the gap is the price of having an external "
               "extension at all (a second interpreter starting beside the runtime on one CPU)."
               if "control" in cold else "")
    if not met:
        runtime = read.startup_added().median if read.has("startup") else float("nan")
        ready = read.ready_ms() if read.has("ext_startup") else float("nan")
        note = (f"{_missed_by(ratio.median, 1.10, 'x')} (+{added.median:.0f} ms). Two parts: "
                f"the runtime process's own start-up with the layer's sitecustomize (added "
                f"{runtime:+.1f} ms in the plain-process measurement, table *Runtime start-up*) "
                f"and the external extension's start-up (ready {ready:.0f} ms after launch), "
                "which Lambda's init waits for and which, on one vCPU, competes with the "
                "runtime's own init for the CPU. Where the extension's "
                "start-up goes: profile *extension imports* (external/main.py -> "
                "external/mode.py -> external/lambda_api/telemetry.py and the stdlib modules "
                "they pull in) plus the interpreter's own start." + control)
    return [Target("cold start", "cold start (init duration), httprecap / no layer", "≤ 1.10x",
                   f"{ratio.text(3, 'x')}, +{added.median:.0f} ms", met, note)]


def _control_share(read: Reading, metric: str, ours: float) -> str:
    """How much of httprecap's added `metric` (`ours`, ms) any extension has here (the control),
    and what that leaves to httprecap's own per-invocation work."""
    if "control" not in read.r["warm"]:
        return ""
    empty = differences(read.warm("control", metric), read.warm("none", metric)).median
    return (f"; an extension that does nothing (e) adds {empty:+.2f} ms of it by itself (its "
            "INVOKE wakes a second process beside the runtime on one CPU, and the sandbox "
            f"serves it), leaving {ours - empty:+.2f} ms to httprecap's own")


def _sandbox_scale(read: Reading) -> str:
    """How much more a bare requests call costs in the sandbox than in process."""
    if not read.has("micro", "warm"):
        return ""
    in_sandbox = (_median(read.warm("none", "latency_100"))
                  - _median(read.warm("none", "latency_0"))) * 1000 / 100
    in_process = _median(read.r["micro"]["requests"]["none"]["base_wall"])
    if not in_process:
        return ""
    return (f": a bare requests call takes {in_sandbox:.0f} µs in the sandbox's (a) rows, "
            f"{in_process:.0f} µs in process, {in_sandbox / in_process:.1f}x")


def _warm_targets(read: Reading) -> list[Target]:
    duration, latency = read.warm_ratio("duration_100"), read.warm_ratio("latency_100")
    added_latency = read.warm_added("latency_100").median
    fixed = read.warm_added("latency_0").median
    extension = _median(read.warm("httprecap", "extension_100"))
    per_call = read.per_call("requests", metric="wall") if read.has("micro") else float("nan")
    why = (f"Of the {added_latency:.2f} ms added to the response, about {per_call * 100 / 1000:.2f}"
           f" ms is 100 x the per-call cost measured in process ({per_call:.1f} µs wall for "
           f"requests) and {fixed:.2f} ms is a fixed cost per invocation (the 0-call row: "
           "the runtime's hooks in internal/invocation.py, the extension's INVOKE handling in "
           "external/main.py, telemetry deliveries, and the sandbox serving the extension)"
           + _control_share(read, "latency_0", fixed)
           + ". The rest comes from running beside the handler on one CPU: everything costs "
           "more in the sandbox than in process (the runtime, the "
           "upstream server and the sandbox share the CPU and its caches" + _sandbox_scale(read)
           + "), and the capture's cost scales with it. The function process posts nothing to "
           "the extension during these invocations (calls are held until the invocation ends, "
           "0.2 s at most, or until one runs longer than 20 ms: internal/transport/sender.py), "
           "so the extension's per-call work (external/collect/, "
           "external/aggregate/encoded_call.py) "
           "comes after the response, in the post-runtime time. With a real upstream "
           "(milliseconds per call, not this ~50 µs loopback server) the same absolute cost "
           "is a far smaller ratio.")
    found = [
        Target("warm invocation", "warm duration, 100 calls, httprecap / no layer", "≤ 1.10x",
               duration.text(3, "x"), duration.median <= 1.10,
               "" if duration.median <= 1.10 else
               f"{_missed_by(duration.median, 1.10, 'x')}. Duration also holds the post-runtime "
               f"extension time ({extension:.2f} ms median here). " + why),
        Target("warm invocation", "warm response latency, 100 calls, httprecap / no layer",
               "≤ 1.02x",
               latency.text(3, "x"), latency.median <= 1.02,
               "" if latency.median <= 1.02 else
               f"{_missed_by(latency.median, 1.02, 'x')}. " + why),
        _per_invocation_target(read, added_latency),
    ]
    return found


def _per_invocation_target(read: Reading, added_latency: float) -> Target:
    """The 0.2 ms bound: what the invocation's own machinery adds to the response (the event
    delivered to the handler, the handler's return to the response), beside the per-call cost
    inside the handler that the per-call targets bound: 100 calls at a bare wrapt hook's 5 µs
    alone would exceed 0.2 ms, so the bound cannot be on the total."""
    outside = read.warm_added("outside_100").median
    inside = read.warm_added("body_100").median
    met = outside <= 0.2
    note = "" if met else (
        f"{_missed_by(outside, 0.2, 'ms')}. Measured as the caller's latency minus the "
        "handler's own time (functions/app.py reports it), httprecap minus (a), round by "
        "round: the runtime's per-invocation hooks (internal/invocation.py: the request id on "
        "the way in; the `end` marker queued after the response is posted, so the hand-off "
        "itself is not in it), the extension's INVOKE handling (external/main.py) and "
        "telemetry deliveries landing beside the runtime (relaxed to one a second while the "
        "wrapper is set: external/lambda_api/telemetry.py)"
        f"{_control_share(read, 'outside_100', outside)}.")
    return Target("warm invocation", "added response latency per invocation, 100 calls "
                  "(outside the handler's calls)", "≤ 0.2 ms",
                  f"{outside:+.2f} ms (all of it: {added_latency:+.2f} ms, of which "
                  f"{inside:+.2f} ms inside the handler: the calls' capture)", met, note)


def _extension_targets(read: Reading) -> list[Target]:
    found = []
    for calls, bound in ((100, 2.0), (1000, 10.0)):
        value = read.extension_ms(calls)
        met = value <= bound
        after = read.after_response_ms(calls)
        # Which of the two spans the hand-over of the calls falls in is up to the scheduler
        # (docs/BENCHMARKS.md): the sum is what the work after the response costs.
        measured = f"{value:.2f} ms" + ("" if after is None else
                                        f" (with the runtime's overhead: {after:.2f} ms)")
        found.append(Target("extension", f"post-runtime extension time, {calls:,} calls (stdout)",
                            f"≤ {bound:g} ms", measured, met, "" if met else
                            f"{_missed_by(value, bound, 'ms')}. Where it goes, all after the "
                            "response: handing the calls over (the function process's "
                            "sender, the collector, the run loop and the sandbox take turns "
                            "on one CPU), checking and encoding them (core/wire.py "
                            "`sort_batch`, external/aggregate/encoded_call.py "
                            "`EncodedCall.of_row`), building the recap and its findings "
                            "(external/aggregate/recap.py `build_recap`, "
                            "external/aggregate/findings/) and writing it "
                            "(external/ship/stdout.py); profile *extension, 1,000-call "
                            "invokes*. Runs differ by a third here: compare two versions "
                            "with `bench.extension_time --versus ZIP`."))
    big = read.r["extension"].get("big")
    if big:
        memory = read.r["extension"]["memory"]
        peak = memory["extension after the big invoke, peak"]
        ok = bool(big["recap_found"]) and big["dropped"] == 0 and big["recap_count"] == \
            big["calls"] and peak <= 60
        note = "" if ok else (
            f"recap found: {big['recap_found']}, counted {big['recap_count']}, dropped "
            f"{big['dropped']}, extension peak RSS {peak:.1f} MiB"
            + (f"; the extension logged: {' / '.join(big['errors'])}" if big["errors"] else ""))
        found.append(Target("extension", f"{big['calls']:,} calls in one invocation",
                            "shipped, nothing dropped, RSS ≤ 60 MiB",
                            f"count {big['recap_count']}, dropped {big['dropped']}, "
                            f"peak {peak:.1f} MiB", ok, note))
    return found


def _memory_targets(read: Reading) -> list[Target]:
    warm = read.r["warm"]
    extension = warm["httprecap"].get("extension_peak_mib", [0.0])[0]
    added = warm["httprecap"]["runtime_peak_mib"][0] - warm["none"]["runtime_peak_mib"][0]
    found = [Target("memory", "extension RSS (peak, after the warm rounds)", "≤ 25 MiB",
                    f"{extension:.1f} MiB", extension <= 25),
             Target("memory", "function-process RSS added (peak, after the warm rounds)", "≤ 5 MiB",
                    f"{added:+.1f} MiB", added <= 5)]
    return found


def _bare_text(read: Reading) -> str:
    bare = read.r.get("startup_bare")
    if not bare:
        return ""
    added = differences(bare["httprecap"]["ms"], bare["none"]["ms"])
    return (f"; the interpreter alone (no imports, table *Runtime start-up, interpreter only*) "
            f"starts {added.text(1, ' ms')} later with the layer, but most of that is "
            "standard modules its sitecustomize imports (typing via internal/capture/ and "
            "internal/transport/, json, re, threading; `-X importtime`; socket loads on the "
            "sender thread at its first connection), which a handler importing requests and "
            "boto3 imports anyway")


def _startup_targets(read: Reading) -> list[Target]:
    found = []
    if read.has("startup"):
        added = read.startup_added()
        fastest = startup_fastest(read.r["startup"], "httprecap")
        start = read.r["startup"]
        cpu = differences(start["httprecap"].get("cpu_ms", []),
                          start["none"].get("cpu_ms", [])).median
        found.append(Target("start-up", "added runtime-process start-up (requests + boto3)",
                            "≤ 10 ms",
                            f"{added.text(1, ' ms')}; fastest runs {fastest:+.1f} ms; CPU "
                            f"{cpu:+.1f} ms",
                            added.median <= 10, "" if added.median <= 10 else
                            f"{_missed_by(added.median, 10, 'ms')} by the median of paired "
                            f"runs, whose spread (min..max) is hundreds of ms here; the fastest "
                            f"runs differ by {fastest:+.1f} ms and the CPU time by {cpu:+.1f} ms"
                            f"{_bare_text(read)}. Where the "
                            "layer's start-up goes in the runtime process: wrapper/"
                            "httprecap-wrapper (one sh exec) and wrapper/sitecustomize.py -> "
                            "internal/bootstrap.py `install()` (settings, sender thread, "
                            "post-import hooks); `python -X importtime` with the layer's "
                            "PYTHONPATH shows them."))
    if read.has("ext_startup"):
        ready = read.ready_ms()
        found.append(Target("start-up", "extension ready after launch", "≤ 60 ms",
                            f"{ready:.1f} ms",
                            ready <= 60, "" if ready <= 60 else
                            f"{_missed_by(ready, 60, 'ms')}. Where it goes: profile "
                            "*extension imports* (its own modules' imports and the stdlib "
                            "modules they pull in: json, re, socket, threading, enum, "
                            "collections), then registering, the telemetry subscription and "
                            "starting the collector and telemetry listeners."))
    return found


SECTIONS: tuple[tuple[str, Callable[[Reading], list[Target]]], ...] = (
    ("micro", _per_call_targets), ("coldstart", _cold_targets), ("warm", _warm_targets),
    ("extension", _extension_targets), ("warm", _memory_targets), ("startup", _startup_targets),
)


def evaluate(results: dict[str, Any]) -> list[Target]:
    read = Reading(results)
    found: list[Target] = []
    for key, section in SECTIONS:
        if read.has(key):
            found += section(read)
    if results.get("sandbox"):
        found.append(Target("sandbox", "sandbox's own overhead per warm invocation measured and "
                            "stated", "stated", "see *Sandbox overhead*", True))
    return found


def _fastest_ratio(values: list[float], baseline: list[float]) -> float:
    return min(values) / min(baseline)


def check_bounds(results: dict[str, Any]) -> list[str]:
    """Breaches of the --check bounds (empty when httprecap is within them).

    Each figure is judged by the lower of two estimates: the median of same-round
    comparisons and the comparison of the fastest samples. Load from other work on a shared
    machine (CI's included) inflates the first at random but rarely the second, while a real
    regression raises both; so noise does not fail the check and a regression still does.
    """
    read, breaches = Reading(results), []
    if read.has("micro"):
        for client, figures in results["micro"].items():
            value = min(read.per_call(client), fastest_added(figures, "httprecap"))
            bound = max(CHECK_PER_CALL_US,
                        CHECK_PER_CALL_SHARE * min(figures["none"]["block_cpu"]))
            if value > bound:
                breaches.append(f"per-call {client}: {value:.1f} µs > {bound:.0f} µs")
    if read.has("warm"):
        ratio = min(read.warm_ratio("duration_100").median,
                    _fastest_ratio(read.warm("httprecap", "duration_100"),
                                   read.warm("none", "duration_100")))
        if ratio > CHECK_WARM_RATIO:
            breaches.append(f"warm 100-call duration: {ratio:.2f}x > {CHECK_WARM_RATIO}x")
    if read.has("coldstart"):
        cold = results["coldstart"]
        ratio = min(read.cold_ratio().median, _fastest_ratio(cold["httprecap"]["init_ms"],
                                                             cold["none"]["init_ms"]))
        if ratio > CHECK_COLD_RATIO:
            breaches.append(f"cold start: {ratio:.2f}x > {CHECK_COLD_RATIO}x")
    return breaches
