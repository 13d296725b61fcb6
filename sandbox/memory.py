"""Memory: measures the environment's resident memory and enforces the function's memory size
(dev-time sandbox process).

Lambda caps the whole environment (a cgroup); here a thread sums the RSS of every process of
the instance (runtime and extensions, with their children) every 50 ms while the environment
runs, keeps the peak for `maxMemoryUsedMB`, and SIGKILLs the runtime when the sum passes the
memory size, which is what an out-of-memory looks like from outside: Runtime.ExitError,
"signal: killed". Lambda says no more; the sandbox logs one platform line first, naming the
memory size, what the environment held and the process tree that held most, so a function
given too little memory (several workers on Lambda Managed Instances) is told why it died.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

from httprecap.sandbox.processes import ManagedProcess, rss_by_pid, tree_pids, tree_rss_bytes
from httprecap.sandbox.state import Instance

INTERVAL_S = 0.05
MIB = 1024 * 1024


class MemoryWatch:
    def __init__(self, memory_mb: int, log: Callable[[str], object]) -> None:
        self._memory_mb = memory_mb
        self._limit = memory_mb * MIB
        self._log = log
        self._killed: ManagedProcess | None = None
        self._instance: Instance | None = None
        self._active = threading.Event()
        self._stopped = False
        self.killed_runtime = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-watch")
        self._thread.start()

    def watch(self, instance: Instance) -> None:
        self._instance = instance
        self.resume()

    def pause(self) -> None:
        self._active.clear()

    def resume(self) -> None:
        self._active.set()

    def stop(self) -> None:
        self._stopped = True
        self._active.set()

    def _run(self) -> None:
        while True:
            self._active.wait()
            if self._stopped:
                return
            instance = self._instance
            if instance is not None and not instance.closing:
                self._sample(instance)
            self._active.wait()
            time.sleep(INTERVAL_S)

    def sample_now(self, instance: Instance) -> None:
        """At the end of each invoke: a short one may fall between two periodic samples (or
        precede the first, taken while the runtime was still small)."""
        if not instance.closing:
            self._sample(instance)

    def _sample(self, instance: Instance) -> None:
        alive = [process for process in instance.processes() if not process.exited.is_set()]
        rss = tree_rss_bytes(process.pid for process in alive)
        instance.peak_rss = max(instance.peak_rss, rss)
        runtime = instance.runtime.process
        if rss > self._limit and runtime is not None and not instance.closing:
            if runtime is not self._killed:  # said once; the kill repeats until it is gone
                self._killed = runtime
                self._log(out_of_memory_line(self._memory_mb, rss, alive))
            runtime.kill()


def out_of_memory_line(memory_mb: int, held: int, processes: Sequence[ManagedProcess]) -> str:
    """The memory size, what the environment held and which process tree held most of it.

    The trees are read again here, a moment after the sample that passed the limit, so the
    environment's figure is the larger of the two readings, and it is rounded up: the line
    never says the environment held its memory size or less, nor less than one of its trees."""
    sizes = {process.name: rss_by_pid(tree_pids([process.pid])) for process in processes}
    totals = {name: sum(tree.values()) for name, tree in sizes.items()}
    held = max(held, sum(totals.values()))
    name = max(totals, key=totals.__getitem__)
    pid, largest = max(sizes[name].items(), key=lambda item: item[1])
    who = "the runtime" if name == "runtime" else f"extension {name}"
    return (f"SANDBOX out of memory: the environment held {math.ceil(held / MIB)} MB, over its "
            f"memory size of {memory_mb} MB; {who} held {totals[name] / MIB:.0f} MB in "
            f"{len(sizes[name])} process(es), the largest pid {pid} with {largest / MIB:.0f} MB. "
            "The runtime is killed (signal: killed).")
