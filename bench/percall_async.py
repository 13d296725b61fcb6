"""Bench: per-call overhead of httprecap's capture for httpx (sync and async) and aiohttp, next
to requests, in process (dev-time; no sandbox).

The same method as bench/percall.py, whose server, collector and arms it reuses: one process
pinned to one CPU, a loopback server and a stand-in collector in a pinned child process, and
for each client rounds of blocks of `--block` sequential calls, one block per arm in an order
that rotates each round:

- ``off``: nothing installed;
- ``httprecap``: ``bootstrap.install()`` before the block, ``uninstall()`` after it; the block
  ends once the sender has posted every record, so its CPU is counted;
- ``wrapt``: one pass-through wrapt ``FunctionWrapper`` on the client's entry point
  (``Session.send``, ``Client.send``, ``AsyncClient.send``, ``ClientSession._request``): the
  floor of any wrapt-based hook.

An async client's block is one ``run_until_complete`` of `--block` awaited calls on a loop
kept for the whole run, so the loop's own cost is in every arm alike. Per block: CPU time of
the whole process (caller and sender thread) and wall time; an arm's cost per call is its
block minus the same round's ``off`` block, over the block size; the median over rounds is
printed with the interquartile range, as a Markdown table.

    .venv/bin/python -m bench.percall_async [--pairs 40] [--block 200] [--clients ...]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import percall

CLIENTS = ("requests", "httpx", "httpx-async", "aiohttp")
Block = Callable[[int], None]  # makes n calls


def _blocks(server_port: int) -> tuple[dict[str, Block], dict[str, list[tuple[type, str]]],
                                       Callable[[], None]]:
    """Per client: a block of n calls, the entry point to wrap; and a closer for them all."""
    import aiohttp
    import httpx
    import requests

    url = f"http://127.0.0.1:{server_port}{percall.PATH}"
    loop = asyncio.new_event_loop()
    session = requests.Session()
    client = httpx.Client()
    async_client = httpx.AsyncClient()
    aio_session = loop.run_until_complete(_aiohttp_session(aiohttp))

    async def httpx_async(n: int) -> None:
        for _ in range(n):
            await (await async_client.get(url)).aread()

    async def aiohttp_calls(n: int) -> None:
        for _ in range(n):
            async with aio_session.get(url) as response:
                await response.read()

    blocks: dict[str, Block] = {
        "requests": lambda n: [session.get(url).content for _ in range(n)] and None,
        "httpx": lambda n: [client.get(url).content for _ in range(n)] and None,
        "httpx-async": lambda n: loop.run_until_complete(httpx_async(n)),
        "aiohttp": lambda n: loop.run_until_complete(aiohttp_calls(n)),
    }
    entries = {"requests": [(requests.Session, "send")], "httpx": [(httpx.Client, "send")],
               "httpx-async": [(httpx.AsyncClient, "send")],
               "aiohttp": [(aiohttp.ClientSession, "_request")]}

    def close() -> None:
        client.close()
        loop.run_until_complete(async_client.aclose())
        loop.run_until_complete(aio_session.close())
        loop.close()

    return blocks, entries, close


async def _aiohttp_session(aiohttp: Any) -> Any:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))


def _timed(arm: percall.Arm, block: Block, size: int) -> tuple[float, float]:
    """CPU and wall seconds of `size` calls with `arm` on, its flush included."""
    arm.on()
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    block(size)
    arm.flush()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    arm.off()
    return cpu, wall


def measure(arms: dict[str, percall.Arm], block: Block, pairs: int,
            size: int) -> dict[str, dict[str, list[float]]]:
    """Per arm, per metric: µs per call (added, except `off`), one sample per round."""
    names = list(arms)
    for name in names:  # warm up connections, caches and first-use imports
        _timed(arms[name], block, size)
    added: dict[str, dict[str, list[float]]] = {n: {"cpu": [], "wall": []} for n in names}
    for number in range(pairs):
        shift = number % len(names)
        timed = {name: _timed(arms[name], block, size) for name in names[shift:] + names[:shift]}
        for name in names:
            for index, metric in enumerate(("cpu", "wall")):
                base = 0.0 if name == "off" else timed["off"][index]
                added[name][metric].append((timed[name][index] - base) / size * 1e6)
    return added


def _cell(samples: list[float]) -> str:
    quartiles = statistics.quantiles(samples, n=4)
    return f"{statistics.median(samples):.1f} ({quartiles[0]:.1f}..{quartiles[2]:.1f})"


def table(results: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    lines = ["| client | bare call, µs CPU | httprecap, added µs CPU (IQR) | "
             "httprecap, added µs wall (IQR) | bare wrapt hook, added µs CPU (IQR) |",
             "|---|---:|---:|---:|---:|"]
    for client, added in results.items():
        lines.append(f"| {client} | {statistics.median(added['off']['cpu']):.0f} | "
                     f"{_cell(added['httprecap']['cpu'])} | {_cell(added['httprecap']['wall'])}"
                     f" | {_cell(added['wrapt']['cpu'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="rounds (one block per arm)")
    parser.add_argument("--block", type=int, default=200, help="calls per block")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    options = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {0})
    child = subprocess.Popen(percall._pinned([sys.executable, percall.__file__, "--serve"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        server_port, collector_port = (int(p) for p in child.stdout.readline().split())
        blocks, entries, close = _blocks(server_port)
        results = {}
        for client in options.clients.split(","):
            block = blocks[client]
            arms = {"off": percall.Arm(),
                    "httprecap": percall.Httprecap(collector_port, functools.partial(block, 1)),
                    # wrapt hands an async entry point's coroutine back as it is
                    "wrapt": percall.Wrapt(entries[client])}
            results[client] = measure(arms, block, options.pairs, options.block)
        close()
        print(f"{options.pairs} rounds of {options.block} sequential calls per arm; Python "
              f"{sys.version.split()[0]}, CPUs {sorted(os.sched_getaffinity(0))}\n")
        print(table(results))
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
