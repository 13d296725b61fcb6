"""Bench: per-call overhead in µs, in process, httprecap's capture against OpenTelemetry's
instrumentors, for requests, urllib3 and boto3 (dev-time; no sandbox).

One process, a loopback upstream and receivers in a child process, everything on one CPU
(see host.py). For each client, rounds of three blocks of calls (the order rotating each
round): (a) nothing installed; (b) httprecap's internal extension, installed with
`httprecap.internal.bootstrap.install()` and removed with `uninstall()`, its records sent to a
stand-in collector; (c) OpenTelemetry's requests, urllib3 and botocore instrumentors on a
TracerProvider with a BatchSpanProcessor and the OTLP/HTTP exporter (a loopback receiver),
instrumented and uninstrumented around the block. Each block ends by flushing what it
buffered (httprecap's sender, the span processor), so their background work is counted;
one untimed call and flush after switching a mode on keep its first-use set-up (the
sender's connection and hello, the exporter's session) out of the steady per-call figure.

Per block: CPU time of this process (every thread: the caller's, httprecap's sender,
OpenTelemetry's export thread) including the flush, the caller's thread's share of it, and
wall time of the calls alone. The
overhead per call is the block's figure minus the same round's (a) block, over the block
size; the median over rounds is reported with min..max. Next to it, the difference of the
fastest blocks (min over rounds of (b) or (c) minus min over rounds of (a)): load from other
work only ever adds time, so on a busy machine this is the steadier estimate. Outside an
invocation httprecap attributes the calls to the init phase; the work per call is the same.

    .venv/bin/python -m bench.micro [--rounds 40] [--block 250]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import host
from bench.servers import Servers
from bench.stats import Summary, rotated

CLIENTS = ("requests", "urllib3", "boto3")
MODES = ("none", "httprecap", "otel")
MODE_LABELS = {"none": "(a) nothing", "httprecap": "(b) httprecap", "otel": "(c) OpenTelemetry"}
Samples = dict[str, dict[str, dict[str, list[float]]]]  # client -> mode -> metric -> samples


def make_calls(servers: Servers) -> dict[str, Callable[[], object]]:
    """One call of each client to the upstream, over a kept-alive connection."""
    return calls_to(servers.ports["upstream"])


def calls_to(port: int) -> dict[str, Callable[[], object]]:
    """One call of each client to 127.0.0.1:`port`, over a kept-alive connection."""
    import boto3
    import requests
    import urllib3

    session = requests.Session()
    # No proxy/netrc lookups in the environment on every call: they made the bare call swing by
    # tens of µs between blocks (bench/percall.py does the same).
    session.trust_env = False
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)
    s3 = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                               region_name="us-east-1").client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}",
        config=boto3.session.Config(s3={"addressing_style": "path"}))
    url = f"http://127.0.0.1:{port}/items?limit=10"
    return {
        "requests": lambda: session.get(url).content,
        "urllib3": lambda: pool.request("GET", "/items?limit=10").data,
        "boto3": lambda: get_object(s3),
    }


def get_object(s3: Any) -> bytes:
    body: bytes = s3.get_object(Bucket="bench", Key="items.json")["Body"].read()
    return body


class Modes:
    """Switches each configuration on and off around a block, and flushes what it buffered."""

    def __init__(self, servers: Servers) -> None:
        self.collector_port = servers.ports["collector"]
        if "otel" in MODES:  # the peer is optional (the `bench` extra)
            self._set_up_otel(servers)

    def _set_up_otel(self, servers: Servers) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=servers.url("otlp", "/v1/traces"))))
        trace.set_tracer_provider(self.provider)
        self.instrumentors = [RequestsInstrumentor(), URLLib3Instrumentor(),
                              BotocoreInstrumentor()]

    @contextlib.contextmanager
    def active(self, mode: str) -> Iterator[Callable[[], object]]:
        """Inside: `mode` is on; yields the function that flushes its buffers."""
        from httprecap.internal import bootstrap

        if mode == "httprecap":
            bootstrap.install({"HTTPRECAP_PORT": str(self.collector_port)})
            try:
                yield lambda: flush_sender(bootstrap)
            finally:
                bootstrap.uninstall()
        elif mode == "otel":
            for instrumentor in self.instrumentors:
                instrumentor.instrument(tracer_provider=self.provider)
            try:
                yield self.provider.force_flush
            finally:
                for instrumentor in self.instrumentors:
                    instrumentor.uninstrument()
        else:
            yield lambda: None


def flush_sender(bootstrap: Any) -> None:
    sender = bootstrap.sender()
    if sender is not None and not sender.flush(5.0):
        raise RuntimeError("httprecap's sender did not hand its records over")


def timed_block(call: Callable[[], object], size: int,
                flush: Callable[[], object]) -> dict[str, float]:
    cpu, caller, wall = time.process_time(), time.thread_time(), time.perf_counter()
    for _ in range(size):
        call()
    wall = time.perf_counter() - wall
    caller = time.thread_time() - caller
    flush()
    return {"cpu": time.process_time() - cpu, "caller": caller, "wall": wall}


def measure(servers: Servers, rounds: int, block: int) -> Samples:
    calls, modes = make_calls(servers), Modes(servers)
    samples: Samples = {}
    for client, call in calls.items():
        for mode in MODES:  # warm up connections, caches and each mode's first-use imports
            with modes.active(mode) as flush:
                timed_block(call, block, flush)
        figures: dict[str, dict[str, list[float]]] = {
            mode: {"cpu": [], "caller": [], "wall": [], "base_wall": [], "block_cpu": []}
            for mode in MODES}
        for number in range(rounds):
            blocks = {}
            for mode in rotated(MODES, number):
                with modes.active(mode) as flush:
                    call()  # first use after switching on (connections, hello): not timed
                    flush()
                    blocks[mode] = timed_block(call, block, flush)
            for mode in MODES:
                for metric in ("cpu", "caller", "wall"):
                    added = (blocks[mode][metric] - blocks["none"][metric]) / block * 1e6
                    figures[mode][metric].append(added)
                figures[mode]["base_wall"].append(blocks["none"]["wall"] / block * 1e6)
                figures[mode]["block_cpu"].append(blocks[mode]["cpu"] / block * 1e6)
        samples[client] = figures
    return samples


def fastest_added(figures: dict[str, dict[str, list[float]]], mode: str) -> float:
    """CPU µs per call of `mode`'s fastest block minus that of the fastest bare block."""
    return min(figures[mode]["block_cpu"]) - min(figures["none"]["block_cpu"])


def table(samples: Samples) -> str:
    lines = ["| client | bare call, µs (wall) | httprecap added, µs CPU | of it, caller's "
             "thread | fastest blocks, µs CPU | httprecap added, µs wall | OpenTelemetry "
             "added, µs CPU | fastest blocks, µs CPU | OpenTelemetry added, µs wall | "
             "httprecap / OpenTelemetry (CPU) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for client, figures in samples.items():
        ours, theirs = figures["httprecap"], figures.get("otel")
        otel_cells = "n/a | n/a | n/a | n/a"
        if theirs:
            share = Summary.of(ours["cpu"]).median / Summary.of(theirs["cpu"]).median
            otel_cells = (f"{Summary.of(theirs['cpu']).text(1)} | "
                          f"{fastest_added(figures, 'otel'):.1f} | "
                          f"{Summary.of(theirs['wall']).text(1)} | {share:.3f}")
        lines.append(f"| {client} | {Summary.of(figures['none']['base_wall']).text(0)} | "
                     f"{Summary.of(ours['cpu']).text(1)} | "
                     f"{Summary.of(ours.get('caller', [])).text(1)} | "
                     f"{fastest_added(figures, 'httprecap'):.1f} | "
                     f"{Summary.of(ours['wall']).text(1)} | {otel_cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=250)
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    host.pin_unless(args)
    with Servers() as servers:
        print(table(measure(servers, args.rounds, args.block)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
