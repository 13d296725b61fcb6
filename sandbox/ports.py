"""Ports: a loopback port for a process that will listen on it later (dev-time sandbox process).

The sandbox's callers hand each extension its ports (`HTTPRECAP_PORT`, a telemetry listener)
before the process exists. A port found with `bind(("127.0.0.1", 0))` and released comes from
the kernel's ephemeral range, which every outgoing connection draws its local port from too:
in the tenth of a second before the extension binds it, a connection of the runtime, of a
server or of another sandbox may take it, and the extension then fails to start. A port below
that range is never handed out that way, so only an explicit choice can take it: each is
checked free, and none is handed out twice by this process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768  # Linux's default: 32768-60999
LOWEST = 10_000  # clear of well-known and registered services' usual ports
MIN_ROOM = 1000  # fewer ports below the ephemeral range than this: fall back to it
ATTEMPTS = 200

_given: set[int] = set()
_lock = threading.Lock()


def free_port() -> int:
    """A loopback port free right now, outside the ephemeral range where one is available."""
    low = _ephemeral_low()
    if low - LOWEST >= MIN_ROOM:
        with _lock:
            for _ in range(ATTEMPTS):
                port = random.randrange(LOWEST, low)
                if port not in _given and _bindable(port):
                    _given.add(port)
                    return port
    return _ephemeral_port()


def _ephemeral_low() -> int:
    try:
        return int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ephemeral_port() -> int:
    """The fallback where the ephemeral range leaves no room below it (or no free port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
