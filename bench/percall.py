"""Bench: per-call overhead of the internal extension against baselines, in process (dev-time).

One process, one CPU (`taskset -c 0`: with client and server on different vCPUs the same bare
loop swings by 100 µs). A loopback HTTP server and a collector standing in for the extension
run in a pinned child process. For each client (requests, urllib3) the bench runs rounds of
blocks of `--block` calls, one block per arm in an order that rotates each round:

- ``off``: nothing installed;
- ``httprecap``: ``bootstrap.install()`` before the block and ``uninstall()`` after it; the
  block ends by waiting until the sender has posted every record, so its CPU is counted;
- ``wrapt``: one pass-through wrapt ``FunctionWrapper`` on the outermost entry point
  (``Session.send`` / ``HTTPConnectionPool.urlopen``): the floor of any wrapt-based hook;
- ``wrapt-all``: pass-through wrapt hooks on every point httprecap patches for that client
  (the floor of httprecap's layout);
- ``plain``: a plain function replacing the same entry point, appending 4 fields to a list;
- ``otel`` (``--otel``): OpenTelemetry's requests and urllib3 instrumentors, a
  BatchSpanProcessor and the OTLP/HTTP exporter to the collector, flushed at the block's end.

Per block: CPU time of the whole process (``time.process_time``: the caller and every
background thread) and wall time, flush included. An arm's cost per call is its block minus
the same round's ``off`` block, over the block size; the median over rounds is reported with
its 95 % confidence interval. Outside a Lambda invocation httprecap attributes calls to the init
phase; the work per call is the same.

    taskset -c 0 .venv/bin/python bench/percall.py [--pairs 60] [--block 250] [--otel]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
PATH = "/items?limit=10"
ARMS = ("off", "httprecap", "wrapt", "wrapt-all", "plain")


def _serve_connection(conn: socket.socket, reply: bytes) -> None:
    """Minimal HTTP/1.1 keep-alive: read a request (headers + Content-Length body), reply."""
    data = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(data) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            data = data[length:]
            conn.sendall(reply)


def _listen(reply: bytes) -> int:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=_serve_connection, args=(conn, reply), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1])


def serve() -> None:
    """Child process: the target server and the collector; prints their ports, then waits."""
    print(_listen(REPLY), _listen(ACCEPTED), flush=True)
    sys.stdin.read()


def _pinned(command: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *command] if shutil.which("taskset") else command


# --- arms: each switches one configuration on and off around a block -------------------------

class Arm:
    """Nothing installed (the `off` arm); subclasses install something around the block."""

    def on(self) -> None:
        """Install; may make a call of its own (once-per-process costs stay out of the block)."""

    def flush(self) -> None:
        """Inside the block: wait until background work for its calls is done."""

    def off(self) -> None:
        """Uninstall."""


class Httprecap(Arm):
    def __init__(self, collector_port: int, call: Callable[[], object]) -> None:
        self.environ = {"HTTPRECAP_PORT": str(collector_port)}
        self.call = call

    def on(self) -> None:
        from httprecap.internal import bootstrap

        bootstrap.install(self.environ)
        self.call()  # the sender's thread start, connection and `hello` stay out of the block
        self.flush()

    def flush(self) -> None:
        from httprecap.internal import bootstrap

        sender = bootstrap.sender()
        if sender is None:
            raise RuntimeError("httprecap is not installed")
        # Poll finely (Sender.flush sleeps 2 ms a turn, which would blur the wall figure).
        deadline = time.monotonic() + 5.0
        buffer = sender.buffer
        while buffer.items or sender.busy or not sender.hello_sent:
            if time.monotonic() > deadline:
                raise RuntimeError("httprecap's sender did not hand its records over")
            buffer.wake()
            time.sleep(0.0001)

    def off(self) -> None:
        from httprecap.internal import bootstrap

        bootstrap.uninstall()


class Patches(Arm):
    """Replaces class attributes while on; puts the originals back when off."""

    def __init__(self, targets: list[tuple[type, str]]) -> None:
        self.targets = targets
        self.saved: list[tuple[type, str, Any]] = []

    def replacement(self, original: Any) -> Any:
        raise NotImplementedError

    def on(self) -> None:
        for owner, name in self.targets:
            original = vars(owner)[name]
            self.saved.append((owner, name, original))
            setattr(owner, name, self.replacement(original))

    def off(self) -> None:
        while self.saved:
            owner, name, original = self.saved.pop()
            setattr(owner, name, original)


def _pass_through(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


class Wrapt(Patches):
    """A pass-through wrapt FunctionWrapper on each target."""

    def replacement(self, original: Any) -> Any:
        from wrapt import FunctionWrapper

        return FunctionWrapper(original, _pass_through)


class PlainSend(Patches):
    """requests: a plain function replacing Session.send, recording 4 fields."""

    def __init__(self, targets: list[tuple[type, str]]) -> None:
        super().__init__(targets)
        self.records: list[tuple[Any, ...]] = []

    def replacement(self, original: Any) -> Any:
        records, now = self.records, time.perf_counter_ns

        def send(session: Any, request: Any, **kwargs: Any) -> Any:
            started = now()
            response = original(session, request, **kwargs)
            records.append((request.method, request.url, response.status_code,
                            now() - started))
            return response

        return send

    def off(self) -> None:
        super().off()
        self.records.clear()


class PlainUrlopen(PlainSend):
    """urllib3: a plain function replacing HTTPConnectionPool.urlopen, recording 4 fields."""

    def replacement(self, original: Any) -> Any:
        records, now = self.records, time.perf_counter_ns

        def urlopen(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            started = now()
            response = original(pool, method, url, *args, **kwargs)
            records.append((method, url, response.status, now() - started))
            return response

        return urlopen


class OpenTelemetry(Arm):
    def __init__(self, collector_port: int) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{collector_port}/v1/traces")))
        self.instrumentors = [RequestsInstrumentor(), URLLib3Instrumentor()]

    def on(self) -> None:
        for instrumentor in self.instrumentors:
            instrumentor.instrument(tracer_provider=self.provider)

    def flush(self) -> None:
        self.provider.force_flush()

    def off(self) -> None:
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()


def make_arms(client: str, call: Callable[[], object], collector_port: int,
              otel: bool) -> dict[str, Arm]:
    import http.client

    import requests
    import urllib3

    pool_class = urllib3.HTTPConnectionPool
    inner = [(pool_class, "urlopen"), (pool_class, "_make_request"),
             (http.client.HTTPConnection, "request"),
             (http.client.HTTPConnection, "getresponse")]
    if client == "requests":
        outer = [(requests.Session, "send")]
        plain: Arm = PlainSend(outer)
        every = outer + inner
    else:
        outer = [(pool_class, "urlopen")]
        plain = PlainUrlopen(outer)
        every = [(urllib3.PoolManager, "urlopen"), *inner]
    arms = {"off": Arm(), "httprecap": Httprecap(collector_port, call), "wrapt": Wrapt(outer),
            "wrapt-all": Wrapt(every), "plain": plain}
    if otel:
        arms["otel"] = OpenTelemetry(collector_port)
    return arms


# --- measuring --------------------------------------------------------------------------------

def _block(arm: Arm, call: Callable[[], object], size: int) -> tuple[float, float]:
    """CPU and wall seconds of `size` calls with `arm` on, its flush included."""
    arm.on()
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(size):
        call()
    arm.flush()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    arm.off()
    return cpu, wall


def measure(arms: dict[str, Arm], call: Callable[[], object], pairs: int,
            size: int) -> dict[str, dict[str, list[float]]]:
    """Per arm, per metric: µs added per call, one sample per round (`off` holds its own)."""
    names = list(arms)
    for name in names:  # warm up connections, caches and first-use imports
        _block(arms[name], call, size)
    added: dict[str, dict[str, list[float]]] = {n: {"cpu": [], "wall": []} for n in names}
    for number in range(pairs):
        shift = number % len(names)
        blocks = {name: _block(arms[name], call, size)
                  for name in names[shift:] + names[:shift]}
        for name in names:
            for index, metric in enumerate(("cpu", "wall")):
                base = 0.0 if name == "off" else blocks["off"][index]
                added[name][metric].append((blocks[name][index] - base) / size * 1e6)
    return added


def _spread(samples: list[float]) -> str:
    """Median and its 95 % confidence interval (order statistics: no assumption about the
    distribution of the noise)."""
    ordered = sorted(samples)
    half = 0.98 * len(ordered) ** 0.5  # 1.96 * sqrt(n) / 2
    low = ordered[max(int(len(ordered) / 2 - half), 0)]
    high = ordered[min(int(len(ordered) / 2 + half), len(ordered) - 1)]
    return f"{statistics.median(ordered):7.1f} [{low:6.1f}, {high:6.1f}]"


def report(client: str, added: dict[str, dict[str, list[float]]]) -> None:
    off = added.pop("off")
    print(f"\n{client}: bare call {statistics.median(off['cpu']):.0f} µs CPU, "
          f"{statistics.median(off['wall']):.0f} µs wall")
    print(f"  {'arm':10s} {'added µs CPU: median [95% CI]':>30s} "
          f"{'added µs wall: median [95% CI]':>32s}")
    for name, figures in added.items():
        print(f"  {name:10s} {_spread(figures['cpu']):>30s} {_spread(figures['wall']):>32s}")
    if "otel" in added:
        ours = statistics.median(added["httprecap"]["cpu"])
        theirs = statistics.median(added["otel"]["cpu"])
        print(f"  httprecap / OpenTelemetry (CPU): {ours / theirs:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60, help="rounds (one block per arm)")
    parser.add_argument("--block", type=int, default=250, help="calls per block")
    parser.add_argument("--otel", action="store_true", help="add OpenTelemetry's instrumentors")
    parser.add_argument("--clients", default="requests,urllib3")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve()
        return
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {0})
    child = subprocess.Popen(_pinned([sys.executable, __file__, "--serve"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        server_port, collector_port = (int(p) for p in child.stdout.readline().split())
        import requests
        import urllib3

        session = requests.Session()
        # Environment lookups (proxies, ~/.netrc: stat calls on every request) made the bare
        # call swing by ±10 % block to block; they are not what httprecap touches.
        session.trust_env = False
        pool = urllib3.HTTPConnectionPool("127.0.0.1", server_port, maxsize=1)
        url = f"http://127.0.0.1:{server_port}{PATH}"
        calls: dict[str, Callable[[], object]] = {
            "requests": lambda: session.get(url).content,
            "urllib3": lambda: pool.request("GET", PATH).data,
        }
        print(f"{options.pairs} rounds of {options.block} calls per arm; Python "
              f"{sys.version.split()[0]}, CPUs {sorted(os.sched_getaffinity(0))}")
        for client in options.clients.split(","):
            arms = make_arms(client, calls[client], collector_port, options.otel)
            report(client, measure(arms, calls[client], options.pairs, options.block))
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
