"""Bench: the Python bytecodes httprecap runs per HTTP call, by thread (dev-time; no sandbox).

Time per call on a shared machine swings by more than the capture costs, so a change of a few
per cent cannot be told from noise by timing alone. The number of bytecodes the capture runs
is exact and repeatable: counted here with `sys.settrace` opcode events over calls to the
loopback upstream (bench/micro.py's), in the caller's thread (the wrappers) and in the sender
thread (encoding the record). It leaves out what runs in C (the clients, the garbage collector),
so it complements bench/micro.py's CPU figures and does not replace them.

`--root DIR` counts another copy of the package instead (a folder holding `httprecap/`, e.g.
built from an older commit), to compare two versions on the same machine:

    .venv/bin/python -m bench.bytecodes [--calls 200] [--root DIR]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from types import FrameType
from typing import Any

from bench import micro
from bench.servers import Servers

SENDER_THREAD = "httprecap-sender"


class Tally:
    """Bytecodes run in httprecap's own frames (its modules' functions), per thread kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        module = frame.f_globals.get("__name__") or ""
        if module != "httprecap" and not module.startswith("httprecap."):
            return None
        frame.f_trace_opcodes = True
        kind = "sender" if threading.current_thread().name == SENDER_THREAD else "caller"
        counts = self.counts

        def opcodes(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[kind] += 1
            return opcodes

        return opcodes


def count(client: str, calls: int, servers: Servers) -> dict[str, float]:
    """Bytecodes per call of `client`, in the caller's thread and the sender's."""
    bootstrap = importlib.import_module("httprecap.internal.bootstrap")
    tally = Tally()
    call = micro.make_calls(servers)[client]
    threading.settrace(tally.trace)  # the sender thread starts in install(): traced from birth
    try:
        bootstrap.install({"HTTPRECAP_PORT": str(servers.ports["collector"])})
        for _ in range(20):  # first-use set-up (connections, caches) left out
            call()
        bootstrap.sender().flush(5.0)
        tally.counts.clear()
        sys.settrace(tally.trace)
        for _ in range(calls):
            call()
        bootstrap.sender().flush(5.0)
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        bootstrap.uninstall()
    return {kind: tally.counts[kind] / calls for kind in ("caller", "sender")}


def table(found: dict[str, dict[str, float]]) -> str:
    lines = ["| client | caller's thread | sender thread | in all |", "|---|---:|---:|---:|"]
    for client, kinds in found.items():
        caller, sender = kinds["caller"], kinds["sender"]
        lines.append(f"| {client} | {caller:.0f} | {sender:.0f} | {caller + sender:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--root", help="a folder holding another httprecap package to count")
    args = parser.parse_args(argv)
    if args.root:
        sys.path.insert(0, args.root)
        for name in [name for name in sys.modules if name.split(".")[0] == "httprecap"]:
            del sys.modules[name]
    with Servers() as servers:
        found = {client: count(client, args.calls, servers) for client in micro.CLIENTS}
    print("Bytecodes httprecap runs per call:\n")
    print(table(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
