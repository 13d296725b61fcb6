"""Renders the generated benchmark report (build/bench/BENCHMARKS-full.md) from one run's
results (dev-time). Nothing in it is typed by hand: every figure and every verdict comes from
the results of the run that writes it. docs/BENCHMARKS.md, for users, quotes such a run."""

from __future__ import annotations

import time
from statistics import median
from typing import Any

from bench import (
    coldstart,
    configs,
    ext_startup,
    extension_time,
    micro,
    otel_layer,
    sandbox_overhead,
    startup,
    warm,
)
from bench.stats import differences
from bench.targets import Target, evaluate

FULL_COMMAND = ".venv/bin/python -m bench"
QUICK_COMMAND = ".venv/bin/python -m bench --quick --check"


def render(results: dict[str, Any]) -> str:
    parts = [_head(results), _targets(evaluate(results)), _reading(results),
             _configurations(results)]
    parts += [section for section in (
        _section("Cold start", _COLD, results, "coldstart", coldstart.table),
        _section("Warm invocations", _WARM, results, "warm", warm.table),
        _section("Memory after the warm rounds", _MEMORY, results, "warm", warm.memory_table),
        _extension(results),
        _section("Extension start-up", _READY, results, "ext_startup", ext_startup.table),
        _section("Per-call overhead (in process)", _MICRO, results, "micro", micro.table),
        _section("Runtime start-up", _STARTUP, results, "startup", startup.table),
        _section("Runtime start-up, interpreter only", _BARE, results, "startup_bare",
                 startup.table),
        _sandbox(results), _profiles(results), _companions(results)) if section]
    return "\n\n".join(parts) + "\n"


def _head(results: dict[str, Any]) -> str:
    machine = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    mode = "quick mode (`--quick`): few rounds, figures indicative only" if results["quick"] \
        else "full run"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(results["finished"]))
    return (
        "# Benchmarks: full report of one run (generated)\n\n"
        "httprecap next to no layer and next to what users would pick instead, measured on "
        "whole invocations in the local Lambda sandbox (docs/SANDBOX.md) and in process. "
        f"This file is generated whole by `{FULL_COMMAND}` (about 6 minutes; `make bench` "
        "runs it) and is an output, not documentation: docs/BENCHMARKS.md is the summary for "
        f"users. `{QUICK_COMMAND}` runs the same suite "
        "with few rounds and exits non-zero when httprecap's overhead passes the generous "
        "bounds of `bench/targets.py` (CI). Each module also runs alone, e.g. "
        "`.venv/bin/python -m bench.warm --rounds 30`; `--no-pin` leaves the CPUs unpinned.\n\n"
        f"This run: {mode}, {when}, {results['elapsed_s'] / 60:.1f} minutes.\n\n"
        "## Machine\n\n"
        f"- CPU: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"{machine['os']}; Python {machine['python']}\n"
        f"- Packages: {packages}\n"
        f"- Pinned to CPU 0: {results['pinned']} (the benchmark, the sandbox's processes and "
        "the loopback servers share one CPU: repeats agree within a few per cent where spread "
        "processes varied by tens of per cent, and a Lambda function of up to 1,769 MB has at "
        "most one vCPU, so whatever runs beside the handler competes with it as it would "
        "there)\n"
        f"- Load average (1, 5, 15 min) at the start: {results['load']}, at the end: "
        f"{results.get('load_end', 'n/a')} (other work on this shared machine "
        "is noise every figure carries; medians and same-round ratios are robust to it, "
        "min..max ranges are not)\n\n"
        "Every figure is a median with (min..max) over repeats; every ratio or difference to "
        "(a) is made round by round between runs made next to each other, then summarised.")


def _targets(targets: list[Target]) -> str:
    lines = ["## Targets", "",
             "| area | target | bound | this run | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {t.area} | {t.what} | {t.bound} | {t.measured} | {t.verdict} |"
              for t in targets]
    missed = [t for t in targets if t.met is False]
    if missed:
        lines += ["", "Missed targets, by how much and why:", ""]
        lines += [f"- **{t.what}**: {t.note}" for t in missed]
    return "\n".join(lines)


def _ratio_text(results: dict[str, Any], section: str, metric: str, name: str) -> str:
    data = results[section]
    if name not in data:
        return "n/a"
    added = differences(data[name][metric], data["none"][metric]).median
    return f"{added:+.1f} ms"


def _reading(results: dict[str, Any]) -> str:
    lines = ["## Reading", ""]
    names = [name for name in configs.NAMES
             if name in results.get("setups", []) and name != "control"]
    if results.get("coldstart"):
        added = ", ".join(f"{configs.LABELS[n]} {_ratio_text(results, 'coldstart', 'init_ms', n)}"
                          for n in names if n != "none")
        lines.append(f"- Cold start added to (a): {added}. OpenTelemetry's layer is the "
                     "expensive one, as published (+750 to 1000 ms on Lambda); httprecap's cost "
                     "is almost all its extension's start-up, which runs beside the runtime.")
    if results.get("warm"):
        added = ", ".join(
            f"{configs.LABELS[n]} {_ratio_text(results, 'warm', 'latency_100', n)}"
            for n in names if n != "none")
        lines.append(f"- Response latency added with 100 calls: {added}. Duration adds "
                     "httprecap's post-runtime extension time on top (the caller does not "
                     "wait for it; it is billed).")
    if results.get("micro"):
        rows = []
        for client, figures in results["micro"].items():
            theirs = (f" (OpenTelemetry {median(figures['otel']['cpu']):.0f} µs)"
                      if "otel" in figures else "")
            rows.append(f"{client} {median(figures['httprecap']['cpu']):.1f} µs{theirs}")
        lines.append(f"- CPU added per call by httprecap: {', '.join(rows)}.")
    sent = results.get("warm_sent")
    if sent:
        lines.append(f"- Every configuration really recorded and sent its data during the warm "
                     f"rounds: {', '.join(f'{k}: {v}' for k, v in sent.items())}.")
    for key, error in results.get("errors", {}).items():
        lines.append(f"- The `{key}` measurement failed in this run: {error}")
    for name, reason in results.get("skipped", {}).items():
        lines.append(f"- {configs.LABELS[name]} was not measured: {reason}.")
    return "\n".join(lines)


def _configurations(results: dict[str, Any]) -> str:
    otel_env = "; ".join(f"`{k}={v if 'ENDPOINT' not in k else 'http://127.0.0.1:PORT'}`"
                         for k, v in otel_layer.env(0).items())
    return (
        "## Configurations\n\n"
        "All run the same handler (`bench/functions/app.py`: imports requests and boto3, "
        "then makes `calls` GETs over one kept-alive `requests.Session` to a loopback "
        "upstream, `bench/servers.py`, which answers in about 50 µs: much faster than any real "
        "API, so every overhead shows at its largest share). Function memory 1,024 MB; "
        "every invoke carries an X-Ray trace header (`Sampled=1`).\n\n"
        "- **(a) no layer.**\n"
        "- **(b) httprecap**: the layer zip built from this checkout "
        "(`httprecap.layer.build.build_layer`), `AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`, "
        "default settings (stdout sink).\n"
        "- **(c) OpenTelemetry**, equivalent to the OpenTelemetry Lambda Python layer "
        "(`bench/otel_layer.py`): a layer directory whose exec wrapper `/opt/otel-instrument` "
        "does what the layer's does (task root and layer python dir on `PYTHONPATH`, resource "
        "attributes, `ORIG_HANDLER` + a handler shim, then `python3 opentelemetry-instrument "
        "<runtime command>`); the distro configures a TracerProvider with a "
        "BatchSpanProcessor and the OTLP/HTTP (protobuf) exporter to a loopback receiver; "
        "instrumentors: requests, urllib3, botocore (auto-instrumentation) and aws-lambda "
        "(the shim, which force-flushes spans before the handler returns, as the layer does). "
        f"Variables: {otel_env}. Not included: the OpenTelemetry collector extension layer "
        "(the exporter talks to the receiver directly) and the X-Ray id generator/propagator.\n"
        "- **(d) AWS X-Ray SDK** (aws-xray-sdk): the handler module "
        "(`bench/functions/xray_app.py`) calls `patch([\"requests\", \"botocore\"])` at import; "
        "`AWS_XRAY_DAEMON_ADDRESS` is a loopback UDP port that counts the segments; the trace "
        "header of each invoke gives the SDK its facade segment.\n"
        "- **(e) empty extension (control)** (`bench/control_layer.py`): an external extension "
        "that registers for INVOKE and SHUTDOWN and does nothing else, in an isolated "
        "interpreter like httprecap's. It shows what *any* extension costs in this sandbox "
        "on one CPU, so what httprecap adds beyond it is httprecap's own.")


_COLD = ("A fresh sandbox per configuration and round ({rounds} rounds, order rotating), one "
         "invoke with no calls. Init duration is the platform's `initDurationMs`: extensions "
         "launched and ready, runtime started, handler (requests + boto3) imported. First "
         "response is the caller's latency of that invoke, init included. RSS: peak (VmHWM) of "
         "the runtime process and of the extension right after it.")
_WARM = ("Three warm sandboxes per configuration, round r in the (r mod 3)th: with one, a "
         "configuration's handler ran a steady millisecond faster or slower than another's in "
         "every round (each sandbox's processes have their own memory layout and placement). "
         "{rounds} rounds, each invoking every configuration once per call count (order "
         "rotating); after 3 warm-up invokes in each sandbox. "
         "Duration is `platform.report`'s `durationMs` (runtime + extensions: what is billed); "
         "response latency is the caller's (request sent to response received); extension "
         "time is the post-runtime extensionOverhead span.")
_MEMORY = ("Peak (VmHWM) and current (VmRSS) resident set of each configuration's runtime "
           "process and extension, read from /proc after the warm rounds.")
_READY = ("The layer's `/opt/extensions/httprecap` launched {rounds} times against a minimal "
          "Extensions/Telemetry API stub (`bench/ext_startup.py`); ready = its first "
          "`/event/next`, answered with SHUTDOWN. Peak RSS at that moment.")
_MICRO = ("In one process, blocks of {block} calls to the loopback upstream, {rounds} rounds of "
          "(a) nothing, (b) httprecap's internal extension (`bootstrap.install()` / "
          "`uninstall()`), (c) OpenTelemetry's requests+urllib3+botocore instrumentors with "
          "a BatchSpanProcessor and the OTLP/HTTP exporter, order rotating. Added CPU per call "
          "is this process's CPU time (all threads: the caller, httprecap's sender, "
          "OpenTelemetry's exporter) including the flush at the end of each block, minus the "
          "same round's (a), per call; *of it, caller's thread* is the part spent in the thread "
          "making the calls (the rest is httprecap's sender thread encoding and posting "
          "records); wall is the calls alone. *Fastest blocks* is the "
          "fastest (b) or (c) block minus the fastest (a) block: other work on the machine "
          "only ever adds time, so under load it is the steadier estimate. boto3 is "
          "`s3.get_object` + reading the body. The X-Ray SDK cannot be unpatched in process, "
          "so it appears in the whole-invocation tables only.")
_STARTUP = ("Plain processes, {rounds} rounds, order rotating: each configuration's runtime "
            "interpreter started as its configuration starts it, importing requests and boto3 "
            "(`bench/startup.py`), then leaving with `os._exit(0)`: the interpreter's "
            "finalization, which a Lambda runtime never runs, is not timed. Added = same-round "
            "difference to (a); *fastest runs* = fastest run minus the fastest (a) run; added "
            "CPU = user + system time from wait4 (waiting for the CPU not counted), same-round "
            "difference. Peak RSS from wait4.")


_BARE = ("The same, {rounds} rounds, without the imports (`os._exit(0)` at once): what each "
         "configuration adds to the interpreter's start by itself (exec wrapper, "
         "sitecustomize, SDK set-up), without the libraries' own import time, whose "
         "run-to-run spread hides a few ms. (d) is left out: its `patch()` imports the "
         "libraries.")


def _section(title: str, text: str, results: dict[str, Any], key: str, render_table: Any) -> str:
    data = results.get(key)
    if not data:
        return ""
    params = dict(results["params"])
    if key == "startup_bare":
        params[key] = {"rounds": params["startup"]["rounds"] * startup.BARE_ROUNDS}
    return (f"## {title}\n\n" + text.format(**params.get(key, {})) + "\n\n"
            + render_table(data))


def _extension(results: dict[str, Any]) -> str:
    found = results.get("extension")
    if not found:
        return ""
    rounds = results["params"]["extension"]["rounds"]
    return ("## Post-runtime extension time (httprecap)\n\n"
            f"One warm httprecap sandbox, {rounds} rounds of invokes with 0, 10, 100 and "
            "1,000 calls (order rotating), stdout sink; then one invoke with the large count. "
            "The span runs from the runtime's next `/next` (response posted) to the "
            "extension's `/event/next` (recap shipped): the caller already has its response; "
            "the time is billed. The function process hands its calls over after the "
            "response; whether that falls before the runtime's `/next` (in the runtime's "
            "overhead, platform.runtimeDone's `runtimeOverhead` span) or after it (in the "
            "post-runtime time) is the scheduler's choice on the one CPU, so the last column "
            "adds the two: it is what the work after the response costs, whichever span "
            "holds it.\n\n"
            + extension_time.table(found) + "\n\n" + extension_time.big_text(found) + "\n\n"
            + extension_time.memory_table(found))


def _sandbox(results: dict[str, Any]) -> str:
    rows = results.get("sandbox")
    if not rows:
        return ""
    invokes = results["params"]["sandbox"]["invokes"]
    tables = "\n\n".join(sandbox_overhead.table(figures, title) for title, figures in rows.items())
    return ("## Sandbox overhead\n\n"
            "What the local Lambda sandbox itself costs per warm invocation, without any "
            "layer: the hello function (`examples/hello`) invoked in one warm environment "
            "through `Sandbox.invoke`, compared with the time the runtime spent "
            "(`platform.runtimeDone` `durationMs`: the event handed to the runtime until its "
            f"next `/next`); {invokes} invokes with freeze on (the default) and off "
            f"(`{sandbox_overhead.COMMAND} --invokes {invokes}` prints the same tables).\n\n"
            + tables + "\n\n"
            "These figures are the floor under every end-to-end measurement above: the "
            "difference between the whole call and the runtime's part is the sandbox's own "
            "bookkeeping (thread hand-offs, log drain, SIGSTOP/SIGCONT of the process groups).")


def _profiles(results: dict[str, Any]) -> str:
    found = results.get("profiles")
    if not found:
        return ""
    blocks = "\n\n".join(f"**{title}**\n\n```\n{text}\n```" for title, text in found.items())
    return ("## Profiles\n\n"
            "Where httprecap's time goes, taken in the same run (`bench/profiles.py`): py-spy "
            "samples of a sandbox process while it is invoked (only samples holding the GIL, "
            "i.e. CPU spent running Python; `*` marks httprecap's functions; shares are "
            "inclusive of callees) and `-X importtime` of the extension's imports.\n\n" + blocks)


def _companions(results: dict[str, Any]) -> str:
    found = results.get("companions")
    if not found:
        return ""
    blocks = "\n\n".join(f"**`{command}`**\n\n{_verbatim(text)}"
                         for command, text in found.items())
    return ("## Companion benches\n\n"
            "Focused benches (per-call A/B arms, the async clients, the extension's shipping, "
            "Lambda Managed Instances), run by the suite as they are and reported verbatim; "
            "each says its own set-up.\n\n" + blocks)


def _verbatim(text: str) -> str:
    """A bench's output: Markdown as it is (tables), anything else as a code block."""
    text = text.strip()
    return text if "\n|---" in text else f"```\n{text}\n```"
