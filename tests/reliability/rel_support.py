"""Helpers for the reliability suite: sandboxes with the built layer, the sandbox's processes
as /proc shows them, a sink receiver whose failures the test controls, and the figures that
docs/RELIABILITY.md reports.

Everything listens on 127.0.0.1 and every loop here is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from layer_support import RECAP_PREFIX, free_port, layer_env, recaps_in, recaps_in_logs

from httprecap.sandbox import FunctionConfig, Sandbox

__all__ = ["RECAP_PREFIX", "free_port", "layer_env", "recaps_in", "recaps_in_logs"]  # shared

FUNCTIONS = Path(__file__).parent / "functions"


def sandbox_for(function: str, layers: list[Path], env: dict[str, str],
                **options: Any) -> Sandbox:
    config = FunctionConfig(code_dir=FUNCTIONS / function, handler="app.handler",
                            layers=layers, env=env, **options)
    return Sandbox(config)


def invoke_recaps(recaps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {recap["requestId"]: recap for recap in recaps if recap["phase"] == "invoke"}


def disable_extensions_layer(root: Path) -> Path:
    """A layer directory holding Lambda's documented switch that launches no extension."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "disable-extensions-jwigqn8j").write_text("")
    return root


# ------------------------------------------------------------------------------ processes


def sandbox_processes(sandbox: Sandbox) -> dict[str, int]:
    """{"runtime": pid, "extension": pid} of the live environment (either may be missing)."""
    scratch = str(sandbox.opt_dir.parent)
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if scratch not in cmdline:
            continue
        if "httprecap.external" in cmdline:
            found["extension"] = int(entry.name)
        elif "bootstrap.py" in cmdline:
            found["runtime"] = int(entry.name)
    return found


class ProcStats:
    """One look at a process through /proc: memory, threads, descriptors, sockets."""

    __slots__ = ("fds", "pid", "rss_kb", "sockets", "threads")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        self.rss_kb = int(fields["VmRSS"].split()[0])
        self.threads = len(os.listdir(f"/proc/{pid}/task"))
        links = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue  # closed between the listing and the read
        self.fds = len(links)
        self.sockets = sum(link.startswith("socket:") for link in links)

    def as_dict(self) -> dict[str, int]:
        return {"rssKb": self.rss_kb, "threads": self.threads, "fds": self.fds,
                "sockets": self.sockets}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# ------------------------------------------------------------------------------ receiver


class Receiver(ThreadingHTTPServer):
    """An HTTP endpoint for the http(s) and OTLP sinks whose behaviour the test switches:
    `ok` (200), `fail` (500), `hang` (never answers until released or `HANG_LIMIT_S`).
    Every POST body that got a 200 is kept in `delivered`; every attempt is counted."""

    daemon_threads = True
    HANG_LIMIT_S = 30.0

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _ReceiverHandler)
        self.mode = "ok"
        self.delivered: list[bytes] = []
        self.attempts = 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="receiver",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/recaps"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()

    def delivered_recaps(self) -> list[dict[str, Any]]:
        with self.lock:
            bodies = list(self.delivered)
        return [recap for body in bodies for recap in json.loads(body)]


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.attempts += 1
            mode = self.server.mode
        if mode == "hang":
            self.server.release.wait(Receiver.HANG_LIMIT_S)
            self.close_connection = True
            return
        status = 200 if mode == "ok" else 500
        if status == 200:
            with self.server.lock:
                self.server.delivered.append(body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def receiver(port: int = 0) -> Iterator[Receiver]:
    server = Receiver(port).start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------ figures


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if not ordered:
        return 0.0
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Figures:
    """What each case observed, written as JSON when RELIABILITY_FIGURES names a file
    (docs/RELIABILITY.md quotes them under each case's name)."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}

    def record(self, case: str, **figures: Any) -> None:
        self.cases.setdefault(case, {}).update(figures)

    def write(self, path: Path) -> None:
        existing: dict[str, Any] = {}
        if path.exists():
            existing = json.loads(path.read_text())
        existing.update(self.cases)
        path.write_text(json.dumps(existing, indent=1, sort_keys=True) + "\n")


def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
