"""Conformance: one pytest run inside a loopback-only network namespace (dev tools).

Run as ``unshare --net -- python -m conformance.driver SPEC.json`` (Linux, as root): it brings
the namespace's loopback up, starts httprecap's collector on 127.0.0.1 (the extension's own
`Collector`, with an aggregator that counts the call records it accepts after validation),
runs the command of SPEC in SPEC's directory, and writes the counts next to the command's exit
status to SPEC's `result` file. The collector runs in both modes: with the capture off it must
count nothing.
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from httprecap import wire
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import Collector

if TYPE_CHECKING:
    from httprecap.wire import WireCall

# struct ifreq (name, flags, the rest of its union) and the ioctls that read and set the flags.
IFREQ = "16sh22x"
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MAX_CALLS = 1000  # the aggregator keeps a bounded sample; the counter sees every record
SETTLE_S = 0.5  # the sender's last batch, posted at exit, may still be on the wire


class CountingAggregator(Aggregator):
    """The extension's aggregator, counting each batch's messages as the collector sorted them:
    valid ones by kind, and those it dropped for breaking the contract."""

    def __init__(self) -> None:
        super().__init__(MAX_CALLS)
        self.kinds: Counter[str] = Counter()
        self.targets: Counter[str] = Counter()  # "library host:port" of each call
        self.dropped = 0
        self._count_lock = threading.Lock()  # the collector applies from many connections

    def apply_batch(self, batch: wire.Sorted, pid: int | None = None) -> None:
        with self._count_lock:
            calls = [call for message in batch.messages for call in (
                message.calls() if isinstance(message, wire.Rows) else
                [message["call"]] if message["k"] == "call" else [])]
            self.kinds.update(message["k"] for message in batch.messages
                              if not isinstance(message, wire.Rows))
            self.kinds["call"] += sum(len(message.rows) for message in batch.messages
                                      if isinstance(message, wire.Rows))
            self.targets.update(_target(call) for call in calls)
            self.dropped += len(batch.drops)
        super().apply_batch(batch, pid)


def _target(call: WireCall) -> str:
    return f"{call.get('library')} {call.get('host')}:{call.get('port')}"


def bring_loopback_up() -> None:
    """A new network namespace starts with `lo` down; `ip link set lo up` without iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs SPEC's command beside a collector; its exit status and what the collector saw."""
    aggregator = CountingAggregator()
    collector = Collector(aggregator)
    server = collector.listen(int(spec["port"]))
    started = time.monotonic()
    try:
        status = _call(spec)
        elapsed = time.monotonic() - started
        time.sleep(SETTLE_S)
    finally:
        server.stop()
    return {"status": status, "seconds": round(elapsed, 1),
            "records": aggregator.kinds["call"], "messages": dict(aggregator.kinds),
            "dropped": aggregator.dropped,
            "targets": dict(aggregator.targets.most_common(20)), "batches": collector.accepted,
            "rejected": dict(collector.rejected)}


def _call(spec: dict[str, Any]) -> int | str:
    """The command's exit status, or "timeout" when it ran past SPEC's limit (then killed)."""
    with open(spec["log"], "wb") as log:
        try:
            return subprocess.call(spec["command"], cwd=spec["cwd"], env=spec["env"],
                                   stdout=log, stderr=subprocess.STDOUT,
                                   timeout=float(spec["timeout"]))
        except subprocess.TimeoutExpired:
            return "timeout"


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    bring_loopback_up()
    result = run(spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
