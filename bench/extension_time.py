"""Bench: httprecap's external extension after the response, in the local sandbox (dev-time).

Post-runtime extension time is `platform.report`'s extensionOverhead span: from the
runtime's next `/next` (its response posted) to the extension's `/event/next` (the recap
shipped, here by the default `stdout` sink). Measured over repeated invokes with 0, 10, 100
and 1,000 calls (rotating the order each round), then one invoke with 10,000 calls, whose
recap must account for every call with nothing dropped; RSS of the extension and of the
runtime process (peak and current) after it.

Beside it, the time after the response: platform.runtimeDone's `runtimeOverhead` span (from
the runtime's response to its next `/next`) plus the post-runtime time. The function
process hands its calls over once the response is posted, and on the one CPU the scheduler
decides whether that runs before the runtime's `/next` (then it is runtime overhead) or after
(post-runtime time): the sum holds the work whichever way it falls.

    .venv/bin/python -m bench.extension_time [--rounds 20] [--big 10000] [--pause-ms 50]
                                             [--without-layer]

Two runs of it on a shared machine can differ by a third. To tell whether a change makes the
extension faster, `--versus ZIP` compares this checkout's layer with another build of it
(`httprecap layer build --out ZIP` at another commit) in one run: two sandboxes alive side by
side, each round invoking both with each call count (in alternating order), and the
difference taken round by round.

    .venv/bin/python -m bench.extension_time --versus /tmp/other.zip [--rounds 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import configs, host
from bench.configs import Setup
from bench.servers import Servers
from bench.stats import Summary, differences, rotated
from httprecap.sandbox import Sandbox

CALLS = (0, 10, 100, 1000)
BIG = 10_000
RECAP_WAIT_S = 5.0


def measure(setup: Setup, servers: Servers, rounds: int, calls: Sequence[int] = CALLS, *,
            big: int = BIG, pause_s: float = 0.0) -> dict[str, Any]:
    url = servers.url("upstream", "/items")
    found: dict[str, Any] = {"extension_ms": {count: [] for count in calls},
                             "after_response_ms": {count: [] for count in calls}}
    with setup.sandbox() as box:
        for count in calls:  # warm-up
            _invoke(box, url, count)
        for number in range(rounds):
            for count in rotated([str(c) for c in calls], number):
                result = _invoke(box, url, int(count))
                found["extension_ms"][int(count)].append(result.extension_overhead_ms)
                found["after_response_ms"][int(count)].append(
                    runtime_overhead_ms(box, result.request_id) + result.extension_overhead_ms)
                time.sleep(pause_s)
        steady = host.sandbox_memory(box.opt_dir)
        if big:
            found["big"] = _big_invoke(box, url, big)
        after = host.sandbox_memory(box.opt_dir)
    if "extension" not in steady:  # the function alone
        return found
    found["memory"] = {
        "extension steady (before the big invoke), current": steady["extension"].current_mib,
        "extension steady (before the big invoke), peak": steady["extension"].peak_mib,
        "extension after the big invoke, current": after["extension"].current_mib,
        "extension after the big invoke, peak": after["extension"].peak_mib,
        "runtime after the big invoke, peak": after["runtime"].peak_mib,
    }
    return found


Paired = dict[int, tuple[list[float], list[float]]]


def versus(setup: Setup, other: Setup, servers: Servers, rounds: int,
           calls: Sequence[int] = CALLS) -> tuple[Paired, Paired]:
    """Post-runtime times of `setup` and `other`, round by round, per call count; and their
    times after the response (the runtime's overhead with them)."""
    url = servers.url("upstream", "/items")
    found: Paired = {count: ([], []) for count in calls}
    after: Paired = {count: ([], []) for count in calls}
    with setup.sandbox() as ours, other.sandbox() as theirs:
        boxes = (ours, theirs)
        for box in boxes:
            for count in calls:  # warm-up
                _invoke(box, url, count)
        for number in range(rounds):
            for count in rotated([str(c) for c in calls], number):
                order = (0, 1) if number % 2 == 0 else (1, 0)
                for side in order:
                    result = _invoke(boxes[side], url, int(count))
                    found[int(count)][side].append(result.extension_overhead_ms)
                    after[int(count)][side].append(
                        runtime_overhead_ms(boxes[side], result.request_id)
                        + result.extension_overhead_ms)
    return found, after


def versus_table(found: Paired, after: Paired) -> str:
    lines = ["| calls per invoke | this checkout, ms | the other layer, ms | this minus the "
             "other, round by round, ms | the same, after the response (with the runtime's "
             "overhead), ms |", "|---|---|---|---|---|"]
    for count, (ours, theirs) in found.items():
        lines.append(f"| {count:,} | {Summary.of(ours).text(2)} | {Summary.of(theirs).text(2)} "
                     f"| {differences(ours, theirs).text(2)} "
                     f"| {differences(*after[count]).text(2)} |")
    return "\n".join(lines)


def _invoke(box: Sandbox, url: str, count: int):  # type: ignore[no-untyped-def]
    result = box.invoke(configs.event(url, count), trace_id=configs.TRACE_ID)
    if not result.ok:
        raise RuntimeError(f"httprecap: invoke with {count} calls failed: {result.payload!r}")
    return result


def runtime_overhead_ms(box: Sandbox, request_id: str) -> float:
    """platform.runtimeDone's runtimeOverhead span: from the runtime's response to its next
    `/next`, which the function process's sender may take its turn on the CPU within."""
    for event in reversed(box.telemetry):
        record = event["record"]
        if event["type"] == "platform.runtimeDone" and record.get("requestId") == request_id:
            return float(next(span["durationMs"] for span in record["spans"]
                              if span["name"] == "runtimeOverhead"))
    raise RuntimeError(f"httprecap: no platform.runtimeDone for {request_id}")


def _big_invoke(box: Sandbox, url: str, count: int) -> dict[str, Any]:
    result = _invoke(box, url, count)
    recap = _recap_of(box, result.request_id)
    summary = recap.get("summary", {}) if recap else {}
    dropped = recap.get("dropped", {}) if recap else {}
    return {"calls": count, "extension_ms": result.extension_overhead_ms,
            "duration_ms": result.duration_ms, "recap_found": recap is not None,
            "recap_count": summary.get("count"), "dropped": dropped.get("count"),
            "dropped_reasons": dropped.get("reasons"),
            "truncated": recap.get("truncated") if recap else None,
            "errors": [line.text for line in box.logs
                       if line.source == "extension" and "error" in line.text[:40]
                       and request_id_in(line.text, result.request_id)]}


def request_id_in(text: str, request_id: str) -> bool:
    return request_id in text[:400]


def _recap_of(box: Sandbox, request_id: str) -> dict[str, Any] | None:
    """The recap the stdout sink printed; its line may still be on its way through the pipe."""
    deadline = time.monotonic() + RECAP_WAIT_S
    while True:
        recap = _printed_recap(box, request_id)
        if recap is not None or time.monotonic() > deadline:
            return recap
        time.sleep(0.05)


def _printed_recap(box: Sandbox, request_id: str) -> dict[str, Any] | None:
    for line in reversed(box.logs):
        if line.text.startswith(configs.RECAP_PREFIX) and request_id in line.text[:300]:
            recap: dict[str, Any] = json.loads(line.text)
            if recap.get("requestId") == request_id:
                return recap
    return None


def table(found: dict[str, Any]) -> str:
    after = found.get("after_response_ms", {})
    lines = ["| calls per invoke | post-runtime extension time, ms | after the response: the "
             "runtime's overhead and the post-runtime time, ms |", "|---|---|---|"]
    for count, values in found["extension_ms"].items():
        total = Summary.of(after[count]).text(2) if after.get(count) else ""
        lines.append(f"| {count:,} | {Summary.of(values).text(2)} | {total} |")
    big = found.get("big")
    if big:
        lines.append(f"| {big['calls']:,} (one invoke) | {big['extension_ms']:.2f} | |")
    return "\n".join(lines)


def big_text(found: dict[str, Any]) -> str:
    big = found.get("big")
    if not big:
        return ""
    truncated = f", stdout line trimmed: {big['truncated']}" if big["truncated"] else ""
    errors = "; extension said: " + " / ".join(f"`{e}`" for e in big["errors"]) \
        if big["errors"] else ""
    return (f"One invoke with {big['calls']:,} calls: duration {big['duration_ms']:.0f} ms; "
            f"recap found: {big['recap_found']}, `summary.count` {big['recap_count']}, "
            f"`dropped.count` {big['dropped']} {big['dropped_reasons'] or ''}{truncated}{errors}.")


def memory_table(found: dict[str, Any]) -> str:
    lines = ["| process, moment | RSS, MiB |", "|---|---|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in found["memory"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--big", type=int, default=BIG)
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="time between invocations (default: none, back to back)")
    parser.add_argument("--without-layer", action="store_true",
                        help="the function alone: the runtime's own overhead, for reference")
    parser.add_argument("--versus", type=Path, metavar="ZIP",
                        help="another build of the layer to compare with, in one run")
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    if args.versus is not None and not args.versus.is_file():
        parser.error(f"--versus: no such layer zip: {args.versus}")
    host.pin_unless(args)
    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        setup = configs.prepare(Path(work), servers.ports)[
            "none" if args.without_layer else "httprecap"]
        if args.versus is not None:
            other = dataclasses.replace(setup, layers=(args.versus,))
            print(versus_table(*versus(setup, other, servers, args.rounds)))
            return 0
        found = measure(setup, servers, args.rounds, big=0 if args.without_layer else args.big,
                        pause_s=args.pause_ms / 1000)
    if args.without_layer:  # (no extension: no big invoke, no memory of its own)
        print(table(found))
        return 0
    print("\n\n".join([table(found), big_text(found), memory_table(found)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
