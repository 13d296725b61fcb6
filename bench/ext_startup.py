"""Bench: httprecap's extension start-up, launch to ready (dev-time; the extension runs as its
own process, as Lambda starts it).

The layer is unpacked into a private /opt and `/opt/extensions/httprecap` is launched against
a minimal Extensions/Telemetry API stub on loopback. Ready is the extension's first
`/event/next` (by then it has registered, subscribed to telemetry and started its collector);
the stub answers it with SHUTDOWN so the extension exits at once. Wall clock from just before
the launch to that request, over repeated launches; the extension's peak RSS at that moment.

With `--baseline DIR` (another source tree holding core/, internal/, external/ and wrapper/,
e.g. `git archive HEAD~3 core internal external wrapper | tar -x -C DIR`), a layer built
from it is launched in alternation with this tree's, so both see the same load, and the
paired differences (this tree minus the baseline) are shown.

    .venv/bin/python -m bench.ext_startup [--rounds 15] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import configs, host
from bench.stats import Summary, differences, rotated
from httprecap.sandbox.opt import unpack_layers

EXIT_WAIT_S = 5.0


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: StubApi

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        """Quiet."""

    def do_POST(self) -> None:
        self._body()
        if self.path.endswith("/extension/register"):
            self._reply(200, {"functionName": "bench", "functionVersion": "$LATEST",
                              "handler": "app.handler"},
                        {"Lambda-Extension-Identifier": str(uuid.uuid4())})
        else:
            self._reply(202, {})

    def do_PUT(self) -> None:
        self._body()
        self._reply(200, {})  # telemetry subscription accepted

    def do_GET(self) -> None:
        if self.path.endswith("/extension/event/next"):
            self.server.ready_at = time.perf_counter()
            self.server.ready_peak_mib = host.memory_of(self.server.pid).peak_mib
            deadline_ms = int(time.time() * 1000) + 2000
            self._reply(200, {"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                              "deadlineMs": deadline_ms},
                        {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})
        else:
            self._reply(404, {})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class StubApi(ThreadingHTTPServer):
    daemon_threads = True
    ready_at: float | None = None
    ready_peak_mib = 0.0
    pid = 0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Stub)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


def _environment(api: str) -> dict[str, str]:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "AWS_LAMBDA_RUNTIME_API": api, "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",
            "HTTPRECAP_PORT": str(configs.free_port()),
            "HTTPRECAP_TELEMETRY_PORT": str(configs.free_port())}


def launch_once(opt: Path) -> tuple[float, float]:
    """(ms from launch to the first /event/next, peak RSS then in MiB) of one start."""
    stub = StubApi()
    try:
        started = time.perf_counter()
        process = subprocess.Popen([str(opt / "extensions" / "httprecap")], cwd=opt,
                                   env=_environment(stub.address), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        stub.pid = process.pid  # the launcher execs the interpreter: same pid
        try:
            code = process.wait(EXIT_WAIT_S)
        finally:
            process.kill()
            process.wait()
        if stub.ready_at is None:
            raise RuntimeError(f"the extension exited ({code}) before it was ready")
        return (stub.ready_at - started) * 1000, stub.ready_peak_mib
    finally:
        stub.shutdown()
        stub.server_close()


def measure(layer_zip: Path, rounds: int) -> dict[str, list[float]]:
    return compare({"this tree": layer_zip}, rounds)["this tree"]


def compare(layers: dict[str, Path], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Launches of each layer in turn, `rounds` times (after one launch each that warms the
    page cache, as every Lambda start after the first is)."""
    found: dict[str, dict[str, list[float]]] = {
        name: {"ready_ms": [], "peak_mib": []} for name in layers}
    with tempfile.TemporaryDirectory() as scratch:
        opts = {}
        for number, (name, layer_zip) in enumerate(layers.items()):
            opts[name] = Path(scratch) / f"opt{number}"
            unpack_layers([layer_zip], opts[name])
            launch_once(opts[name])
        for number in range(rounds):
            for name in rotated(list(layers), number):
                ready, peak = launch_once(opts[name])
                found[name]["ready_ms"].append(ready)
                found[name]["peak_mib"].append(peak)
    return found


def table(found: dict[str, list[float]]) -> str:
    ready = Summary.of(found["ready_ms"]).text(1)
    return ("| extension start-up | median (min..max) |\n|---|---|\n"
            f"| launch to ready (first /event/next), ms | {ready} |\n"
            f"| peak RSS when ready, MiB | {Summary.of(found['peak_mib']).text(1)} |")


def comparison(found: dict[str, dict[str, list[float]]]) -> str:
    """Each layer's ready times, and this tree's paired difference to every other."""
    lines = ["| layer | launch to ready, ms | this tree minus it, ms |", "|---|---|---|"]
    ours = found["this tree"]["ready_ms"]
    for name, figures in found.items():
        paired = "" if name == "this tree" else differences(ours, figures["ready_ms"]).text(1)
        lines.append(f"| {name} | {Summary.of(figures['ready_ms']).text(1)} | {paired} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    host.pin_unless(args)
    with tempfile.TemporaryDirectory() as work:
        from httprecap.layer.build import build_layer

        layer = build_layer(Path(work) / "httprecap-layer.zip").path
        if args.baseline is None:
            print(table(measure(layer, args.rounds)))
            return 0
        base = build_layer(Path(work) / "baseline.zip", source_root=args.baseline).path
        print(comparison(compare({"this tree": layer, str(args.baseline): base}, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
