"""This machine's side of the benchmarks: CPU pinning and per-process memory (dev-time).

Pinning: the benchmark process pins itself to CPU 0 and every child it starts (the sandbox's
runtime and extensions, the loopback servers) inherits that. On this noisy 2-vCPU machine,
client and server on one CPU repeat within a few per cent, where spreading them varied by
tens of per cent. It also plays a Lambda function of
up to 1,769 MB, which has at most one vCPU: whatever an extension or a background thread
does competes with the function for the same CPU, as it would there.

Memory: peak (VmHWM) and current (VmRSS) resident set of the runtime process and of the
extension of one sandbox, found through /proc by the sandbox's scratch directory, which
every command line of its processes contains.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

PINNED_CPU = 0
KIB_PER_MIB = 1024


def add_pin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the benchmark and its children to one CPU")


def pin_unless(args: argparse.Namespace) -> bool:
    return False if args.no_pin else pin()


def pin() -> bool:
    """Pin this process (and so its future children) to one CPU; False where unsupported."""
    try:
        os.sched_setaffinity(0, {PINNED_CPU})
    except (AttributeError, OSError):
        return False
    return True


@dataclass(frozen=True)
class Memory:
    """Resident set of one process, in MiB: its peak so far and its current size."""

    peak_mib: float
    current_mib: float


def _status_kib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return 0.0


def memory_of(pid: int) -> Memory:
    return Memory(_status_kib(pid, "VmHWM") / KIB_PER_MIB, _status_kib(pid, "VmRSS") / KIB_PER_MIB)


def sandbox_processes(opt_dir: Path) -> dict[str, int]:
    """{"runtime": pid, "extension": pid} of a sandbox (from its /opt's parent, the scratch)."""
    scratch = str(opt_dir.parent)
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = b" ".join(argv).decode(errors="replace")
        if scratch not in line:
            continue
        if "bootstrap.py" in line:
            found["runtime"] = int(entry.name)
        elif "httprecap.external" in line or "/opt/extensions/" in line:
            found["extension"] = int(entry.name)
    return found


def sandbox_memory(opt_dir: Path) -> dict[str, Memory]:
    """Memory of the runtime process and of the extension (if any) of one sandbox."""
    return {role: memory_of(pid) for role, pid in sandbox_processes(opt_dir).items()}
