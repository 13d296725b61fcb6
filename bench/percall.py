"""Bench: per-call overhead of the internal extension, in process (dev-time).

A/B in one process: alternating blocks of calls with capture off and on, to a loopback server
(and a collector standing in for the extension) running in a child process. For each pair of
blocks the difference in CPU time of this process (the caller's thread and our sender thread
together, the sender flushed at the end of each block) is divided by the block size; the
median over all pairs is the overhead per call. Wall-clock differences are printed too.
With `taskset`, client and server share CPU 0, so the sender's work cannot hide on an idle
core.

    python bench/percall.py [--pairs 60] [--block 250]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"


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


def _block(call: Callable[[], object], size: int,
           flush: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(size):
        call()
    flush()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(name: str, call: Callable[[], object], collector_port: int, pairs: int,
            size: int) -> None:
    from httprecap.internal import bootstrap

    def flush() -> None:
        sender = bootstrap.sender()
        if sender is not None:
            sender.flush(5.0)

    for _ in range(size):  # warm up connections and caches
        call()
    offs, ons = [], []
    for _ in range(pairs):
        offs.append(_block(call, size, flush))
        bootstrap.install({"HTTPRECAP_PORT": str(collector_port)})
        # Once-per-process costs (sender thread, connection, hello) stay out of the block.
        _block(call, 1, flush)
        ons.append(_block(call, size, flush))
        bootstrap.uninstall()
    per_call = 1e6 / size
    pairs_done = list(zip(offs, ons, strict=True))
    cpu = statistics.median((on[0] - off[0]) * per_call for off, on in pairs_done)
    wall = statistics.median((on[1] - off[1]) * per_call for off, on in pairs_done)
    # On a busy machine the quietest block of each arm is the steadier estimate.
    quiet = (min(on[0] for on in ons) - min(off[0] for off in offs)) * per_call
    print(f"{name:9s} overhead per call: {cpu:6.1f} µs CPU, {wall:6.1f} µs wall (median of "
          f"{pairs} pairs); {quiet:6.1f} µs CPU between the quietest blocks; baseline "
          f"{min(off[0] for off in offs) * per_call:.0f} µs CPU per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--block", type=int, default=250)
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
        url = f"http://127.0.0.1:{server_port}/items?limit=10"
        import requests
        import urllib3

        session = requests.Session()
        pool = urllib3.HTTPConnectionPool("127.0.0.1", server_port, maxsize=1)
        measure("requests", lambda: session.get(url), collector_port, options.pairs,
                options.block)
        measure("urllib3", lambda: pool.request("GET", "/items?limit=10"), collector_port,
                options.pairs, options.block)
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
