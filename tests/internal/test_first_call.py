"""Captures that load at the first call through their client (http.client, urllib.request):
that call and every later one are captured once, whoever makes it: a subclass through
``super()``, threads at once, another agent that wrapped the stand-in, a child forked while
another thread loads."""

from __future__ import annotations

import http.client
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from httprecap.internal import bootstrap

if TYPE_CHECKING:
    from conftest import Capture

ROOT = Path(__file__).resolve().parents[2]


def _get(server: str, path: str, connection_class: Any = http.client.HTTPConnection) -> int:
    parts = urlsplit(server)
    connection = connection_class(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


def test_http_client_s_first_call_loads_its_capture_and_is_captured(installed: Capture,
                                                                     server: str) -> None:
    stand_in = vars(http.client.HTTPConnection)["request"]
    assert [_get(server, f"/ok?n={n}") for n in range(3)] == [200, 200, 200]
    assert vars(http.client.HTTPConnection)["request"] is stand_in  # it stays, passing calls on
    calls = installed.calls()
    assert sorted(call["url"] for call in calls) == [f"{server}/ok?n={n}" for n in range(3)]
    assert {(call["library"], call["status"]) for call in calls} == {("http.client", 200)}


class _Overriding(http.client.HTTPConnection):
    """What urllib3 1.26's connection does: its own `request`, calling http.client's."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)


def test_a_subclass_s_first_call_through_super_is_captured_once(installed: Capture,
                                                                  server: str) -> None:
    assert _get(server, "/ok?via=super", _Overriding) == 200
    assert _get(server, "/ok?via=again", _Overriding) == 200
    calls = installed.calls()
    assert sorted(call["url"] for call in calls) == [f"{server}/ok?via=again",
                                                    f"{server}/ok?via=super"]


def test_first_calls_made_at_once_by_many_threads_are_each_captured_once(
        installed: Capture, server: str) -> None:
    ready = threading.Barrier(8)
    statuses: list[int] = []

    def one(number: int) -> None:
        ready.wait()
        statuses.append(_get(server, f"/ok?thread={number}"))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    urls = sorted(call["url"] for call in installed.calls())
    assert urls == sorted(f"{server}/ok?thread={n}" for n in range(8))


def test_uninstall_puts_the_original_back_whether_or_not_it_was_called(
        capture: Capture, server: str) -> None:
    original = vars(http.client.HTTPConnection)["request"]
    capture.start()
    assert vars(http.client.HTTPConnection)["request"] is not original
    bootstrap.uninstall()
    assert vars(http.client.HTTPConnection)["request"] is original
    capture.start()
    assert _get(server, "/ok") == 200
    bootstrap.uninstall()
    assert vars(http.client.HTTPConnection)["request"] is original


# A thread holds the first-call lock (as one loading a capture does) while the main thread
# forks: the child must not inherit it held, or its first http.client call waits for ever.
FORK_WHILE_LOADING = textwrap.dedent('''
    import http.client, http.server, os, signal, sys, threading, time
    from httprecap.internal import bootstrap, patching

    bootstrap.install({"HTTPRECAP_PORT": "9"})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def loading():
        with patching.loading:
            time.sleep(0.5)

    threading.Thread(target=loading).start()
    time.sleep(0.1)
    pid = os.fork()
    if pid == 0:
        signal.alarm(5)  # a child stuck on the lock dies of SIGALRM
        connection = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=5)
        connection.request("HEAD", "/")
        os._exit(0 if connection.getresponse().status == 200 else 3)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
''')


def test_a_child_forked_while_a_capture_loads_can_load_it_too(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FORK_WHILE_LOADING], capture_output=True,
                          text=True, timeout=30, cwd=tmp_path, check=False)
    assert done.stdout.strip() == "0", done.stderr


def test_an_instrumentation_that_wrapped_the_stand_in_gets_each_call_captured_once(
        installed: Capture, server: str) -> None:
    # Another agent wraps HTTPConnection.request after us, before any call, and calls what it
    # found there (our stand-in): its calls and ours must both happen, once, in that order.
    found = http.client.HTTPConnection.request
    seen: list[str] = []

    def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(args[1])
        return found(self, *args, **kwargs)

    http.client.HTTPConnection.request = theirs  # type: ignore[method-assign]
    try:
        assert _get(server, "/ok?via=theirs") == 200
        assert _get(server, "/ok?via=again") == 200
    finally:
        http.client.HTTPConnection.request = found  # type: ignore[method-assign]
    assert seen == ["/ok?via=theirs", "/ok?via=again"]
    assert sorted(call["url"] for call in installed.calls()) == [f"{server}/ok?via=again",
                                                                f"{server}/ok?via=theirs"]
