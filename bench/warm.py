"""Bench: warm invocations with 0, 10 and 100 calls, under each configuration, in the local
sandbox (dev-time).

One sandbox per configuration stays warm for the whole run. Each round invokes every
configuration once per call count, in an order that rotates from round to round, so all four
see the same machine at nearly the same moment; ratios to (a) are made round by round.
Per invoke: the platform's `durationMs` (what is billed: runtime plus extensions), the
caller's response latency (request sent to response received), and the post-runtime
extension time (`platform.report`'s extensionOverhead span). After the rounds: peak and
current RSS of the runtime process and of the extension.

    .venv/bin/python -m bench.warm [--rounds 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench import configs, host
from bench.configs import Setup
from bench.servers import Servers
from bench.stats import Summary, differences, ratios, rotated
from httprecap.sandbox import Sandbox

Samples = dict[str, dict[str, list[float]]]
CALLS = (0, 10, 100)
WARM_UP_INVOKES = 3
REPLICAS = 3  # warm sandboxes per configuration (see `measure`)


def measure(setups: Mapping[str, Setup], servers: Servers, rounds: int,
            calls: Sequence[int] = CALLS,
            replicas: int = REPLICAS) -> tuple[Samples, dict[str, int]]:
    """Samples per configuration and metric, and what each configuration sent (sanity).

    Each configuration runs in `replicas` warm sandboxes, round r in replica r % replicas:
    with one sandbox each, a configuration's handler ran a steady millisecond faster or slower
    than another's in every round (each sandbox's processes have their own memory layout and
    placement); over several sandboxes that bias becomes spread the median sees through."""
    samples: Samples = {name: {} for name in setups}
    url = servers.url("upstream", "/items")
    with contextlib.ExitStack() as stack:
        boxes = {name: [stack.enter_context(setup.sandbox()) for _ in range(replicas)]
                 for name, setup in setups.items()}
        for name, replica in boxes.items():
            for box in replica:
                for count in calls:
                    for _ in range(WARM_UP_INVOKES):
                        _invoke(box, name, url, count)
        before = servers.counts()["requests"]
        for number in range(rounds):
            for count in calls:
                for name in rotated(list(boxes), number):
                    box = boxes[name][number % replicas]
                    _record(samples[name], count, _invoke(box, name, url, count))
        for name, replica in boxes.items():
            _record_memory(samples[name], replica[0])
        sent = _what_was_sent(boxes, before, servers.counts()["requests"])
    return samples, sent


def _invoke(box: Sandbox, name: str, url: str, count: int):  # type: ignore[no-untyped-def]
    result = box.invoke(configs.event(url, count), trace_id=configs.TRACE_ID)
    if not result.ok:
        raise configs.invoke_failed(name, box, result.payload)
    return result


def _record(figures: dict[str, list[float]], count: int, result) -> None:  # type: ignore[no-untyped-def]
    figures.setdefault(f"duration_{count}", []).append(result.duration_ms)
    figures.setdefault(f"latency_{count}", []).append(result.response_latency_ms)
    # The handler times its own body (functions/app.py): the rest of the caller's latency is
    # the invocation around it (event delivery, the runtime's and the layers' per-invocation
    # work, the response's way back).
    body_ms = float(json.loads(result.payload)["bodyMs"])
    figures.setdefault(f"body_{count}", []).append(body_ms)
    figures.setdefault(f"outside_{count}", []).append(result.response_latency_ms - body_ms)
    figures.setdefault(f"extension_{count}", []).append(result.extension_overhead_ms)


def _record_memory(figures: dict[str, list[float]], box: Sandbox) -> None:
    for role, memory in host.sandbox_memory(box.opt_dir).items():
        figures[f"{role}_peak_mib"] = [memory.peak_mib]
        figures[f"{role}_current_mib"] = [memory.current_mib]


def _what_was_sent(boxes: Mapping[str, Sequence[Sandbox]], before: Mapping[str, int],
                   after: Mapping[str, int]) -> dict[str, int]:
    """Spans exported (OTLP requests), segments sent (UDP), recaps printed: none may be 0."""
    recaps = sum(1 for box in boxes.get("httprecap", ()) for line in box.logs
                 if line.text.startswith(configs.RECAP_PREFIX))
    return {"httprecap recaps": recaps,
            "otel OTLP exports": after.get("otlp", 0) - before.get("otlp", 0),
            "xray UDP segments": after.get("xray", 0) - before.get("xray", 0)}


def table(samples: Samples, calls: Sequence[int] = CALLS) -> str:
    lines = ["| calls | configuration | duration, ms | ratio to (a) | response latency, ms | "
             "ratio to (a) | extension time, ms |", "|---|---|---|---|---|---|---|"]
    for count in calls:
        base = samples["none"]
        for name, figures in samples.items():
            duration, latency = figures[f"duration_{count}"], figures[f"latency_{count}"]
            lines.append(
                f"| {count} | {configs.LABELS[name]} | {Summary.of(duration).text(2)} | "
                f"{ratios(duration, base[f'duration_{count}']).text(3, 'x')} | "
                f"{Summary.of(latency).text(2)} | "
                f"{ratios(latency, base[f'latency_{count}']).text(3, 'x')} | "
                f"{Summary.of(figures[f'extension_{count}']).text(2)} |")
    return "\n".join(lines) + "\n\n" + split_table(samples, max(calls))


def split_table(samples: Samples, count: int) -> str:
    """Where the latency sits: inside the handler (its calls, each with whatever capture adds)
    and outside it (the invocation: event in, response out); differences round by round."""
    base = samples["none"]
    lines = [f"Where the response latency sits, {count} calls: the handler's own time (it "
             "times its body) and the rest of the caller's latency, outside the handler.", "",
             "| configuration | outside the handler, ms | added to (a), ms | "
             "handler's own time, ms | added to (a), ms |", "|---|---|---|---|---|"]
    for name, figures in samples.items():
        outside, body = figures[f"outside_{count}"], figures[f"body_{count}"]
        lines.append(
            f"| {configs.LABELS[name]} | {Summary.of(outside).text(2)} | "
            f"{differences(outside, base[f'outside_{count}']).text(2)} | "
            f"{Summary.of(body).text(2)} | {differences(body, base[f'body_{count}']).text(2)} |")
    return "\n".join(lines)


def memory_table(samples: Samples) -> str:
    lines = ["| configuration | runtime peak RSS, MiB | added to (a) | runtime RSS now, MiB | "
             "extension peak RSS, MiB | extension RSS now, MiB |", "|---|---|---|---|---|---|"]
    base = samples["none"]["runtime_peak_mib"][0]
    for name, figures in samples.items():
        peak = figures["runtime_peak_mib"][0]
        extension = figures.get("extension_peak_mib", [0.0])[0]
        current = figures.get("extension_current_mib", [0.0])[0]
        lines.append(f"| {configs.LABELS[name]} | {peak:.1f} | {peak - base:+.1f} | "
                     f"{figures['runtime_current_mib'][0]:.1f} | "
                     f"{f'{extension:.1f}' if extension else 'n/a'} | "
                     f"{f'{current:.1f}' if current else 'n/a'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--replicas", type=int, default=REPLICAS,
                        help="warm sandboxes per configuration")
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    host.pin_unless(args)
    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        setups = configs.prepare(Path(work), servers.ports)
        samples, sent = measure(setups, servers, args.rounds, replicas=args.replicas)
    print(table(samples) + "\n\n" + memory_table(samples) + f"\n\nsent: {sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
