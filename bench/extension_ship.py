"""Bench: the external extension's start-up and shipping cost, on a stand-in Lambda (dev-time).

The real launcher (wrapper/httprecap-extension) runs from a temporary layer of symlinks, as
Lambda would run it, against a stand-in Extensions API on loopback. The bench plays Lambda
(INVOKE and SHUTDOWN events) and the function process (batches posted to the collector, as
the internal extension's sender posts them).

Start-up: from `Popen` of the launcher to its first `GET /extension/event/next` (ready).
With `--baseline DIR` (another source tree, e.g. `git archive 6da1f4e core external wrapper
| tar -x -C DIR`), its launches alternate with this tree's, so both see the same load.

Post-runtime extension time: the function makes its calls one after the other (2.5 to 11.5 ms
each); the internal extension's sender posts them in batches every 200 ms while the function
runs (it holds finished calls for up to 0.2 s). When the function returns, the runtime posts
its response and the sender posts its last batch (the calls that ended since its last post, and
the `end` hand-off) at the same moment. The clock starts just before that last batch is sent
and stops when the extension is back in `/extension/event/next` (what Lambda reports as
`PostRuntimeExtensionsDuration`). The CPU time the extension's threads used in that window
(from /proc/PID/task/*/schedstat) is shown too: on a busy machine it varies less than the wall-
clock time. The `worst case` rows send every call in the last batch (a function that made all
its calls in its last 0.2 s). Every recap is checked: delivered to each sink, nothing dropped,
calls only trimmed where a size limit says so.

    .venv/bin/python -m bench.extension_ship [--repeat 30] [--startups 20] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from httprecap.sandbox.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench.extension_ship"
API = "/2020-01-01/extension"
CALL_COUNTS = (0, 10, 100, 1000)
BIG = 10_000
SEND_INTERVAL_US = 200_000  # the internal sender holds finished calls for up to 0.2 s
BATCH_BYTES = 1024 * 1024  # the internal sender's MAX_BATCH_BYTES
T_ORIGIN = 1_790_000_000_000_000


def make_layer(root: Path, source: Path = ROOT) -> Path:
    """A layer directory shaped like the built one, symlinked to the source folders."""
    (root / "extensions").mkdir(parents=True)
    launcher = root / "extensions" / "httprecap"
    shutil.copyfile(source / "wrapper" / "httprecap-extension", launcher)
    launcher.chmod(0o755)
    package = root / "httprecap" / "lib" / "httprecap"
    package.mkdir(parents=True)
    for entry in (source / "core").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "external").symlink_to(source / "external")
    return launcher


# ------------------------------------------------------------------ stand-in Extensions API


class StandIn:
    """Loopback Extensions + Telemetry API: registers, hands out events, times each /next."""

    def __init__(self) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.arrivals: queue.Queue[float] = queue.Queue()  # perf_counter() of each /next
        self.errors: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        try:
            while True:
                start = reader.readline()
                if not start:
                    return
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = reader.read(length)
                sock.sendall(self._answer(start.decode("latin-1").split(" ")[:2], body))
        except OSError:
            pass
        finally:
            sock.close()

    def _answer(self, request: list[str], body: bytes) -> bytes:
        method, path = request
        if path == f"{API}/event/next":
            self.arrivals.put(time.perf_counter())
            return _response(200, self.events.get())
        if path == f"{API}/register":
            return _response(200, {"functionName": "bench", "functionVersion": "$LATEST",
                                   "handler": "app.handler"},
                             {"Lambda-Extension-Identifier": str(uuid.uuid4())})
        if path.endswith("/telemetry"):
            return _response(200, {})
        self.errors.append(f"{method} {path} {body[:200]!r}")
        return _response(202, {"status": "OK"})


def _response(status: int, payload: Any, headers: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json",
            f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------- the extension under test


class Extension:
    """One launched extension process, its stdout read line by line on a thread."""

    def __init__(self, launcher: Path, api: StandIn, sinks: str) -> None:
        self.api = api
        self.port = free_port()
        self.lines: list[bytes] = []
        self.stderr: list[bytes] = []
        # The launcher runs the first `python3` on PATH (on Lambda, /var/lang/bin/python3):
        # make it this interpreter.
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
               "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
               "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",
               "HTTPRECAP_PORT": str(self.port),
               "HTTPRECAP_TELEMETRY_PORT": str(free_port()), "HTTPRECAP_SINKS": sinks}
        self.launched = time.perf_counter()
        self.process = subprocess.Popen([str(launcher)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.ready = api.arrivals.get(timeout=10) - self.launched
        self._readers = [threading.Thread(target=_drain, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.process.stdout, self.lines),
                                              (self.process.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()
        self._sock = socket.create_connection(("127.0.0.1", self.port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reply = self._sock.makefile("rb")

    def invoke(self, calls: int, worst: bool = False) -> tuple[str, float, float]:
        """One invocation with `calls` calls: its post-runtime extension time and the CPU
        time the extension used in it, in ms."""
        request_id = str(uuid.uuid4())
        self.api.events.put({"eventType": "INVOKE", "requestId": request_id,
                             "deadlineMs": int(time.time() * 1000) + 60_000,
                             "invokedFunctionArn": "arn:aws:lambda:us-east-1:1:function:b"})
        batches = function_batches(request_id, calls, worst)
        for body in batches[:-1]:
            self._post(body)
        cpu = self.cpu_ns()
        started = time.perf_counter()
        self._post(batches[-1])
        done = self.api.arrivals.get(timeout=30)
        return request_id, (done - started) * 1000, (self.cpu_ns() - cpu) / 1e6

    def cpu_ns(self) -> int:
        """CPU time used so far by the extension's threads that are alive."""
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                pass  # a thread that just ended
        return total

    def _post(self, body: bytes) -> None:
        self._sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                           % len(body) + body)
        status = self._reply.readline()
        length = 0
        while (line := self._reply.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        self._reply.read(length)
        if b" 202 " not in status:
            raise RuntimeError(f"collector answered {status!r}")

    def memory_kib(self) -> dict[str, int]:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}

    def shutdown(self) -> None:
        self._sock.close()
        self.api.events.put({"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                             "deadlineMs": int(time.time() * 1000) + 2000})
        self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(5)

    def recaps(self) -> dict[str, dict[str, Any]]:
        parsed = [json.loads(line) for line in self.lines if line.startswith(b"{")]
        return {recap["requestId"]: recap for recap in parsed}


def _drain(stream: Any, into: list[bytes]) -> None:
    """Read the way a log agent does: whatever the pipe holds, in large reads."""
    chunks = []
    while chunk := os.read(stream.fileno(), 1 << 20):
        chunks.append(chunk)
    into.extend(b"".join(chunks).splitlines())


# ------------------------------------------------------------------ the function's batches


def wire_call(request_id: str, number: int, started_us: int) -> dict[str, Any]:
    """A realistic finished call as the internal extension sends it (about 330 bytes)."""
    host = f"api{number % 5}.example.com"
    status = 404 if number % 17 == 0 else 200
    return {"id": f"4242-{number}", "requestId": request_id,
            "startedAtUs": started_us, "durationMs": 2.5 + (number % 13) * 0.75,
            "method": "GET" if number % 3 else "POST", "scheme": "https", "host": host,
            "port": 443, "path": f"/v1/orders/{number}",
            "url": f"https://{host}/v1/orders/{number}?limit=10&token=REDACTED",
            "status": status, "error": None, "bytesSent": 0 if number % 3 else 120,
            "bytesReceived": 1532, "library": "requests", "thread": "MainThread",
            "attempts": [], "aws": None}


def function_batches(request_id: str, calls: int, worst: bool = False) -> list[bytes]:
    """The sender's batches: calls in <= 1 MiB batches, then the last interval's and `end`."""
    head: list[Any] = [{"k": "hello", "pid": 4242, "python": "3.12", "version": "0.1.0"}]
    tail: list[Any] = []
    now = T_ORIGIN + 1000  # the handler starts, then makes its calls one after the other
    made = [wire_call(request_id, number, now) for number in range(calls)]
    ends = []
    for call in made:
        call["startedAtUs"] = now
        now += round(call["durationMs"] * 1000) + 100
        ends.append(now)
    for call, ended in zip(made, ends, strict=True):
        last_interval = worst or ended > now - SEND_INTERVAL_US
        (tail if last_interval else head).append({"k": "call", "call": call})
    end = {"k": "end", "requestId": request_id, "status": "success", "calls": calls,
           "startedAtUs": T_ORIGIN, "durationMs": (now - T_ORIGIN) / 1000 + 1.0,
           "dropped": {}, "overheadUs": 40}
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for message in head:
        encoded = json.dumps(message)
        if current and (size + len(encoded) > BATCH_BYTES or len(current) >= 4900):
            batches.append(current)
            current, size = [], 0
        current.append(encoded)
        size += len(encoded) + 1
    batches.append(current)
    batches.append([json.dumps(message) for message in [*tail, end]])
    return [f'{{"v":1,"pid":4242,"seq":{seq},"messages":[{",".join(parts)}]}}'.encode()
            for seq, parts in enumerate(batches) if parts]


# ---------------------------------------------------------------------------- measuring


def check(recap: dict[str, Any] | None, calls: int, limited: bool) -> str | None:
    """What is wrong with a delivered recap, or None."""
    if recap is None:
        return "not delivered"
    kept = len(recap["calls"]) + (recap.get("truncated") or {}).get("calls", 0)
    if recap["summary"]["count"] != calls or kept != calls:
        return f"{kept} of {calls} calls"
    if recap["dropped"]["count"]:
        return f"dropped {recap['dropped']}"
    if recap.get("truncated") and not limited:
        return "trimmed without a limit"
    return None


def run_sinks(launcher: Path, sinks: str, file: Path | None, repeat: int) -> dict[str, Any]:
    api = StandIn()
    ext = Extension(launcher, api, sinks)
    timings: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    steady = 0
    ids: dict[str, int] = {}
    try:
        for _ in range(3):  # warm-up: the first invocations pay for lazy imports
            ext.invoke(10)
        runs = [(calls, False) for calls in CALL_COUNTS for _ in range(repeat)]
        runs += [(100, True)] * repeat + [(BIG, False)]
        for calls, worst in runs:
            if calls == BIG:
                steady = ext.memory_kib()["VmRSS"]
            request_id, wall, cpu = ext.invoke(calls, worst)
            name = f"{calls:,} calls" + (", worst case" if worst else "")
            timings.setdefault(name, []).append(wall)
            cpus.setdefault(name, []).append(cpu)
            ids[request_id] = calls
        memory = ext.memory_kib()
    finally:
        ext.shutdown()
        api.close()
    problems = [f"{rid}: stdout {problem}" for rid, calls in ids.items()
                if (problem := check(ext.recaps().get(rid), calls, True))]
    if file is not None:
        written = {r["requestId"]: r for r in map(json.loads, file.read_text().splitlines())}
        problems += [f"{rid}: file {problem}" for rid, calls in ids.items()
                     if (problem := check(written.get(rid), calls, False))]
    sizes: dict[int, int] = {}  # the stdout line's length by call count
    for line in ext.lines:
        recap = json.loads(line)
        sizes[recap["summary"]["count"]] = len(line)
    return {"timings": timings, "cpus": cpus, "steady_kib": steady, "peak_kib": memory["VmHWM"],
            "after_kib": memory["VmRSS"], "problems": problems + api.errors, "sizes": sizes,
            "stderr": [line for line in ext.stderr if b"error" in line]}


def startup(launchers: dict[str, Path], count: int) -> dict[str, list[float]]:
    """Ready times of each launcher, launched in turn `count` times (after one launch each
    that writes the bytecode, as the layer build does)."""
    api = StandIn()
    readies: dict[str, list[float]] = {name: [] for name in launchers}
    try:
        for number in range(count + 1):
            for name, launcher in launchers.items():
                ext = Extension(launcher, api, "stdout")
                if number:
                    readies[name].append(ext.ready * 1000)
                ext.shutdown()
    finally:
        api.close()
    return readies


def _row(name: str, values: list[float], cpu: list[float] | None = None) -> str:
    middle = statistics.median(values)
    row = f"| {name} | {len(values)} | {middle:.2f} | {min(values):.2f} | {max(values):.2f} |"
    return row + (f" {statistics.median(cpu):.2f} |" if cpu else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="invocations per call count")
    parser.add_argument("--startups", type=int, default=20, help="launches to time")
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    baseline = f" --baseline {args.baseline}" if args.baseline else ""
    print(f"`{COMMAND} --repeat {args.repeat} --startups {args.startups}{baseline}` "
          f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.1f})\n")
    failed = False
    with tempfile.TemporaryDirectory(prefix="httprecap-bench-") as tmp:
        launcher = make_layer(Path(tmp) / "layer")
        launchers = {"this tree": launcher}
        if args.baseline:
            launchers[str(args.baseline)] = make_layer(Path(tmp) / "base", args.baseline)
        readies = startup(launchers, args.startups)
        print("| launcher Popen -> first /extension/event/next (ms) | runs | median | min "
              "| max |\n|---|---|---|---|---|")
        for name, values in readies.items():
            print(_row(name, values))
        print()
        for sinks, file in (("stdout", None), ("stdout+file", Path(tmp) / "recaps.jsonl")):
            spec = "stdout" if file is None else f"stdout,file://{file}"
            result = run_sinks(launcher, spec, file, args.repeat)
            print(f"| post-runtime ms, sinks {sinks} | runs | median | min | max "
                  "| CPU median |")
            print("|---|---|---|---|---|---|")
            for name, values in result["timings"].items():
                size = result["sizes"].get(int(name.split()[0].replace(",", "")), 0)
                print(_row(f"{name} (stdout line {size / 1024:,.0f} KiB)", values,
                           result["cpus"][name]))
            print(f"\nExtension RSS: {result['steady_kib'] / 1024:.1f} MiB after the runs "
                  f"above, {result['after_kib'] / 1024:.1f} MiB after the {BIG:,}-call "
                  f"invocation, peak {result['peak_kib'] / 1024:.1f} MiB.")
            for problem in result["problems"] + result["stderr"]:
                failed = True
                print(f"- PROBLEM: {problem!r}")
            print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
