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

``httpx-mock`` and ``httpx-async-mock`` are httpx clients on ``MockTransport``: no socket, so
they show the capture's own cost without the network's spread around it.

An async client's call is one ``run_until_complete`` of a coroutine making one call, on a
loop kept for the whole run: the loop's own cost is in every arm alike and cancels out.
Per block: CPU time of the whole process (caller and sender thread) and wall time; an arm's
cost per call is its block minus the same round's ``off`` block, over the block size; the
median over rounds is printed with the interquartile range, as a Markdown table. The figures
need a quiet machine: on a loaded one the bare call's own spread swamps the difference.

    .venv/bin/python -m bench.percall_async [--pairs 40] [--block 200] [--clients ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from bench import percall

CLIENTS = ("requests", "httpx", "httpx-async", "aiohttp", "httpx-mock", "httpx-async-mock")


def _calls(server_port: int) -> tuple[dict[str, Callable[[], object]],
                                      dict[str, list[tuple[type, str]]], Callable[[], None]]:
    """Per client: one call, and the entry point to wrap; and a closer for them all."""
    import aiohttp
    import httpx
    import requests

    url = f"http://127.0.0.1:{server_port}{percall.PATH}"
    loop = asyncio.new_event_loop()
    session = requests.Session()
    client = httpx.Client()
    async_client = httpx.AsyncClient()
    # No socket at all: the capture's own cost, without the network's spread around it.
    mock = httpx.MockTransport(lambda request: httpx.Response(200, content=b"hello"))
    mock_client, async_mock_client = httpx.Client(transport=mock), httpx.AsyncClient(transport=mock)
    aio_session = loop.run_until_complete(_aiohttp_session(aiohttp))

    async def httpx_async() -> bytes:
        return await (await async_client.get(url)).aread()

    async def httpx_async_mock() -> bytes:
        return await (await async_mock_client.get(url)).aread()

    async def aiohttp_call() -> bytes:
        async with aio_session.get(url) as response:
            return await response.read()

    calls: dict[str, Callable[[], object]] = {
        "requests": lambda: session.get(url).content,
        "httpx": lambda: client.get(url).content,
        "httpx-async": lambda: loop.run_until_complete(httpx_async()),
        "aiohttp": lambda: loop.run_until_complete(aiohttp_call()),
        "httpx-mock": lambda: mock_client.get(url).content,
        "httpx-async-mock": lambda: loop.run_until_complete(httpx_async_mock()),
    }
    entries = {"requests": [(requests.Session, "send")], "httpx": [(httpx.Client, "send")],
               "httpx-async": [(httpx.AsyncClient, "send")],
               "aiohttp": [(aiohttp.ClientSession, "_request")],
               "httpx-mock": [(httpx.Client, "send")],
               "httpx-async-mock": [(httpx.AsyncClient, "send")]}

    def close() -> None:
        client.close()
        mock_client.close()
        loop.run_until_complete(async_client.aclose())
        loop.run_until_complete(async_mock_client.aclose())
        loop.run_until_complete(aio_session.close())
        loop.close()

    return calls, entries, close


async def _aiohttp_session(aiohttp: Any) -> Any:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))


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
        calls, entries, close = _calls(server_port)
        results = {}
        for client in options.clients.split(","):
            arms = {"off": percall.Arm(),
                    "httprecap": percall.Httprecap(collector_port, calls[client]),
                    # wrapt hands an async entry point's coroutine back as it is
                    "wrapt": percall.Wrapt(entries[client])}
            results[client] = percall.measure(arms, calls[client], options.pairs,
                                              options.block)
        close()
        print(f"{options.pairs} rounds of {options.block} sequential calls per arm; Python "
              f"{sys.version.split()[0]}, CPUs {sorted(os.sched_getaffinity(0))}\n")
        print(table(results))
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
