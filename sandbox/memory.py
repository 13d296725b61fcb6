"""Memory: measures the environment's resident memory and enforces the function's memory size
(dev-time sandbox process).

Lambda caps the whole environment (a cgroup); here a thread sums the RSS of every process of
the instance (runtime and extensions, with their children) every 50 ms while the environment
runs, keeps the peak for `maxMemoryUsedMB`, and SIGKILLs the runtime when the sum passes the
memory size, which is what an out-of-memory looks like from outside: Runtime.ExitError,
"signal: killed".
"""

from __future__ import annotations

import threading
import time

from httprecap.sandbox.processes import tree_rss_bytes
from httprecap.sandbox.state import Instance

INTERVAL_S = 0.05
MIB = 1024 * 1024


class MemoryWatch:
    def __init__(self, memory_mb: int) -> None:
        self._limit = memory_mb * MIB
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
        rss = tree_rss_bytes(process.pid for process in instance.processes()
                             if not process.exited.is_set())
        instance.peak_rss = max(instance.peak_rss, rss)
        runtime = instance.runtime.process
        if rss > self._limit and runtime is not None and not instance.closing:
            runtime.kill()
