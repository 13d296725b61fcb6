"""Profiles of where httprecap's time goes, for the reading of docs/BENCHMARKS.md (dev-time).

- `sampled(...)`: py-spy samples a sandbox process (the runtime or the extension) while the
  benchmark invokes it. Only samples of a thread holding the GIL count (`--gil`), so shares
  are of the CPU the process spent running Python, not of time spent waiting. Samples are
  folded per function and listed by inclusive share; httprecap's functions are marked `*`.
  The sandbox runs without freezing here, so py-spy never meets a stopped process.
- `extension_imports(...)`: `python -X importtime` of the extension's start-up imports, the
  largest first.

py-spy is optional (`pip install py-spy`); without it the sampled profiles say so.

    .venv/bin/python -m bench.profiles
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench import configs, host
from bench.configs import Setup
from bench.servers import Servers
from httprecap.sandbox import Sandbox
from httprecap.sandbox.opt import unpack_layers

TOP = 15
RATE = 1000


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def sampled(setup: Setup, servers: Servers, role: str, calls: int, invokes: int) -> str:
    """Folded py-spy profile of the `role` process while it serves `invokes` invokes."""
    spy = py_spy()
    if spy is None:
        return "(py-spy is not installed: `pip install py-spy` for this profile)"
    sandbox = setup.sandbox()
    sandbox.config = replace(sandbox.config, freeze=False)
    url = servers.url("upstream", "/items")
    with sandbox, tempfile.TemporaryDirectory() as scratch:
        sandbox.invoke(configs.event(url, calls), trace_id=configs.TRACE_ID)  # init, warm-up
        pid = host.sandbox_processes(sandbox.opt_dir)[role]
        raw = Path(scratch) / "profile.txt"
        recorder = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", str(RATE),
                                     "--format", "raw", "--gil", "--full-filenames",
                                     "-o", str(raw)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _invoke_many(sandbox, url, calls, invokes)
        finally:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        return fold(raw.read_text() if raw.exists() else "")


def _invoke_many(sandbox: Sandbox, url: str, calls: int, invokes: int) -> None:
    for _ in range(invokes):
        sandbox.invoke(configs.event(url, calls), trace_id=configs.TRACE_ID)


def fold(raw: str) -> str:
    """Functions by inclusive share of the samples, from py-spy's raw (collapsed) output.

    Frames every sample passes through without running themselves (the process's entry
    points) are left out; httprecap's own functions are marked with `*`.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    ours: set[str] = set()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        labels = [_short(frame) for frame in frames]
        ours.update(label for label, frame in zip(labels, frames, strict=True)
                    if "/httprecap/" in frame)
        total += count
        own[labels[-1]] += count
        for label in set(labels):
            inclusive[label] += count
    if total == 0:
        return "(no samples)"
    rows = [f"{count / total * 100:5.1f} % incl. {own[label] / total * 100:5.1f} % self  "
            f"{'*' if label in ours else ' '} {label}"
            for label, count in inclusive.most_common()
            if count < total or own[label]][:TOP]
    ours_share = sum(own[label] for label in ours) / total * 100
    return (f"{total} samples holding the GIL at {RATE} Hz; httprecap's own functions "
            f"(self time): {ours_share:.1f} %\n" + "\n".join(rows))


def _short(frame: str) -> str:
    """`function (path:line)` -> `function (last/parts/of/path.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(Path(path).parts[-3:])})"


def extension_imports(layer_zip: Path) -> str:
    """The extension's largest start-up imports (cumulative µs), as `-X importtime` shows."""
    with tempfile.TemporaryDirectory() as scratch:
        opt = Path(scratch) / "opt"
        unpack_layers([layer_zip], opt)
        lib = opt / "httprecap" / "lib"
        code = "import sys; sys.path.insert(0, sys.argv[1]); import httprecap.external.main"
        result = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", code,
                                 str(lib)], capture_output=True, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = (part.strip() for part in line.split("|"))
        rows.append((int(cumulative), int(own.split(":")[1]), name))
    total = sum(own for _, own, _ in rows)
    rows.sort(reverse=True)
    lines = [f"all imports: {total / 1000:.1f} ms (own time summed)",
             "cumulative ms  own ms  module"]
    lines += [f"{cum / 1000:12.1f}  {own / 1000:6.1f}  {name}" for cum, own, name in rows[:TOP]]
    return "\n".join(lines)


def main() -> int:
    host.pin()
    with Servers() as servers, tempfile.TemporaryDirectory() as work:
        setup = configs.prepare(Path(work), servers.ports)["httprecap"]
        print("extension, 1,000-call invokes:\n" + sampled(setup, servers, "extension", 1000, 5))
        print("\nruntime, 0-call invokes:\n" + sampled(setup, servers, "runtime", 0, 300))
        print("\nruntime, 100-call invokes:\n" + sampled(setup, servers, "runtime", 100, 20))
        print("\nextension imports:\n" + extension_imports(setup.layers[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
