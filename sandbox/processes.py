"""Processes: the runtime and the extensions as child process groups (dev-time sandbox process).

Each child runs in its own session (so its own process group, as RAPID starts them), with its
stdout and stderr read line by line into the log book, and a thread that notices its exit.
Freezing is SIGSTOP to the whole group, thawing SIGCONT, so a background thread of the function
stops exactly as it does when Lambda freezes the environment.

Children die with the sandbox even when it is SIGKILLed: each is started with
PR_SET_PDEATHSIG. Linux sends that signal when the *thread* that forked the child ends, so the
sandbox launches every process from one long-lived worker thread (see sandbox.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

PR_SET_PDEATHSIG = 1
_PAGE = os.sysconf("SC_PAGE_SIZE")
# Resolved in the parent: after fork, the child must not load libraries or import modules.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def exit_description(returncode: int) -> str:
    """How Go (and so Lambda's messages) describes a process exit."""
    if returncode >= 0:
        return f"exit status {returncode}"
    name = signal.strsignal(-returncode) or f"signal {-returncode}"
    return f"signal: {name.lower()}"


class LineReader:
    """Reads one pipe into lines; `drain()` waits until everything written so far is handled."""

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        self._fd = fd
        self._on_line = on_line
        self._partial: list[bytes] = []  # the line being read, in the chunks it came in
        # Data leaves the pipe and becomes lines under this lock, so "no unread byte in the
        # pipe" seen under the lock means "every byte written so far has been handled".
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"reader-{fd}")
        self._thread.start()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | select.POLLHUP)
        while not self._closed:
            poller.poll()
            with self._lock:
                self._read_once()
        os.close(self._fd)

    def _read_once(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except OSError:
            data = b""
        if not data:
            self._closed = True
            if self._partial:
                self._emit(b"".join(self._partial))
            return
        # A long line comes in many reads: each read is scanned once, and the line joined
        # once it is whole (re-scanning what was read before would cost its square).
        if b"\n" not in data:
            self._partial.append(data)
            return
        first, *lines, rest = data.split(b"\n")
        self._emit(b"".join((*self._partial, first)))
        for line in lines:
            self._emit(line)
        self._partial = [rest] if rest else []

    def _emit(self, raw: bytes) -> None:
        self._on_line(raw.decode("utf-8", errors="replace"))

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._closed or _unread_bytes(self._fd) == 0:
                    return
            time.sleep(0.0005)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _unread_bytes(fd: int) -> int:
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    count: int = struct.unpack("i", raw)[0]
    return count


class ManagedProcess:
    """One child process group: started, watched, frozen, thawed, killed."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, *,
                 on_line: Callable[[str], None],
                 on_exit: Callable[[ManagedProcess], None]) -> None:
        self.name = name
        self._on_exit = on_exit
        self.popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
            # Safe with threads here: the function only calls prctl, resolved before the fork.
            preexec_fn=_die_with_parent)  # noqa: PLW1509
        self.pid = self.popen.pid
        assert self.popen.stdout is not None and self.popen.stderr is not None
        # The readers own the descriptors from now on (they close them at EOF).
        self._readers = [LineReader(os.dup(stream.fileno()), on_line)
                         for stream in (self.popen.stdout, self.popen.stderr)]
        self.popen.stdout.close()
        self.popen.stderr.close()
        self.exited = threading.Event()
        threading.Thread(target=self._wait, daemon=True, name=f"wait-{name}").start()

    def _wait(self) -> None:
        self.popen.wait()
        self.exited.set()
        self._on_exit(self)

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def signal_leader(self, signum: int) -> None:
        if not self.exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def freeze(self) -> None:
        self.signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal_group(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the group; stopped processes die too, nothing needs a SIGCONT first."""
        self.signal_group(signal.SIGKILL)

    def drain(self, timeout: float = 0.2) -> None:
        for reader in self._readers:
            reader.drain(timeout)

    def join_output(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


def tree_rss_bytes(pids: Iterable[int]) -> int:
    """Resident memory of the given processes and all their descendants."""
    return sum(_rss(pid) for pid in tree_pids(pids))


def tree_pids(pids: Iterable[int]) -> set[int]:
    """The given processes and all their descendants."""
    parents = None if _HAS_CHILDREN_FILES else _parent_map()
    seen: set[int] = set()
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(_children(pid) if parents is None else parents.get(pid, ()))
    return seen


def rss_by_pid(pids: Iterable[int]) -> dict[int, int]:
    """Resident memory of each of the given processes."""
    return {pid: _rss(pid) for pid in pids}


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as children:
                found += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return found


def _parent_map() -> dict[int, list[int]]:
    """ppid -> children, from /proc/*/stat, for kernels without /proc/PID/task/TID/children."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                # The command name may hold spaces and parentheses: split after the last ')'.
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    return parents


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
