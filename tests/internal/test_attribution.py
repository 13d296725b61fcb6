"""Attribution: each call carries the request id of its invocation, with the real awslambdaric.

The function runs in a subprocess under awslambdaric against a loopback Runtime API; its
handler calls a loopback server from the main thread, a thread pool, a plain thread and an
asyncio task, tagging each URL with the request id the handler saw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from runtime_api import RuntimeApi

from httprecap.internal import invocation

if TYPE_CHECKING:
    from conftest import Collector

HANDLER = '''
import asyncio, os, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

import requests
import urllib3

BASE = os.environ["TEST_SERVER"]
requests.get(f"{BASE}/ok?rid=init&via=module", timeout=5)


def _meet(folder):
    """With a rendezvous folder, wait (5 s at most) until two processes handle invocations."""
    if not folder:
        return
    open(os.path.join(folder, str(os.getpid())), "w").close()
    for _ in range(500):
        if len(os.listdir(folder)) >= 2:
            return
        time.sleep(0.01)


def handler(event, context):
    rid = context.aws_request_id
    url = f"{BASE}/ok?rid={rid}&via="
    requests.get(url + "main", timeout=5)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda via: urllib3.PoolManager().request("GET", url + via),
                      ["pool1", "pool2"]))
    thread = threading.Thread(target=lambda: urllib.request.urlopen(url + "thread").read())
    thread.start()
    thread.join()

    async def task():
        await asyncio.to_thread(lambda: urllib.request.urlopen(url + "asyncio").read())

    asyncio.run(task())
    _meet(event.get("meet"))
    if event.get("fail"):
        raise ValueError("boom")
    return {"pid": os.getpid()}
'''

# A process forked at import, making one call and handing it over before it leaves.
FORK_AT_IMPORT = '''
import os

import requests

from httprecap.internal import bootstrap

if os.fork() == 0:
    try:
        requests.get(os.environ["TEST_SERVER"] + "/ok?rid=init&via=child", timeout=5)
        bootstrap.sender().flush(5.0)
    finally:
        os._exit(0)
os.wait()
''' + HANDLER

# A handler that forks a child for its invocation: the child makes one call and leaves with
# os._exit, as multiprocessing's children do (no atexit, no explicit flush).
FORK_IN_HANDLER = '''
import os

import requests

EXPORTED_AT_INIT = os.environ.get("_HTTPRECAP_REQUEST_ID")


def handler(event, context):
    pid = os.fork()
    if pid == 0:
        try:
            requests.get(f"{os.environ['TEST_SERVER']}/ok?rid={context.aws_request_id}&via=child",
                         timeout=5)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return {"pid": os.getpid(), "child": pid,
            "exported": [EXPORTED_AT_INIT, os.environ.get("_HTTPRECAP_REQUEST_ID")]}
'''

# A module that makes two calls and fails its init.
FAILING_INIT = '''
import os

import requests

requests.get(os.environ["TEST_SERVER"] + "/ok?rid=init&via=module", timeout=5)
requests.get(os.environ["TEST_SERVER"] + "/status/503?rid=init&via=module", timeout=5)
raise RuntimeError("no configuration")
'''

# SIGUSR1 dumps every thread's stack to stderr (forked workers inherit it): a hang is diagnosable.
START = ("import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
         "from httprecap.internal import bootstrap; bootstrap.install(); "
         "import awslambdaric.__main__ as m; m.main(['', 'app.handler'])")


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApi]:
    api = RuntimeApi()
    yield api
    api.close()


def _start_function(tmp_path: Path, runtime_api: RuntimeApi, collector: Collector,
                    server: str, source: str = HANDLER, **env: str) -> subprocess.Popen[bytes]:
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HTTPRECAP_")}
    environ.update(AWS_LAMBDA_RUNTIME_API=runtime_api.address, TEST_SERVER=server,
                   HTTPRECAP_PORT=str(collector.port), **env)
    # A session of its own: the forked workers are killed with it (`_stop`), never orphaned.
    return subprocess.Popen([sys.executable, "-c", START], cwd=tmp_path, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait(predicate: Any, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; the function's threads:\n{_stacks(process)}")
        time.sleep(0.02)


def _stacks(process: subprocess.Popen[bytes]) -> str:
    """Every thread's stack in the function process and its forked workers."""
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                              text=True, check=False).stdout.split()
    for pid in [process.pid, *map(int, children)]:
        os.kill(pid, signal.SIGUSR1)
    time.sleep(1)
    process.kill()
    return process.stderr.read().decode() if process.stderr else ""


def _tag(call: dict[str, Any]) -> tuple[str, str]:
    query = parse_qs(urlsplit(call["url"]).query)
    return query["rid"][0], query["via"][0]


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(5)
    if process.stderr is not None:
        process.stderr.close()


def test_calls_carry_their_invocations_request_id(tmp_path: Path, runtime_api: RuntimeApi,
                                                  collector: Collector, server: str) -> None:
    ids = ["req-1", "req-2", "req-3"]
    for request_id in ids:
        runtime_api.invoke(request_id, {"fail": request_id == "req-2"})
    process = _start_function(tmp_path, runtime_api, collector, server)
    try:
        _wait(lambda: len(collector.of_kind("end")) == 4, process)
    finally:
        _stop(process)
    assert {rid: kind for rid, (kind, _) in runtime_api.posted.items()} == {
        "req-1": "response", "req-2": "error", "req-3": "response"}
    calls = collector.calls()
    assert all(call["requestId"] == _tag(call)[0] for call in calls)
    per_invocation = sorted(_tag(call)[1] for call in calls if call["requestId"] == "req-1")
    assert per_invocation == ["asyncio", "main", "pool1", "pool2", "thread"]
    assert [(e["requestId"], e["status"], e["calls"]) for e in collector.of_kind("end")] == [
        ("init", "success", 1), ("req-1", "success", 5), ("req-2", "error", 5),
        ("req-3", "success", 5)]


def test_each_forked_worker_reports_from_its_own_process(tmp_path: Path,
                                                         runtime_api: RuntimeApi,
                                                         collector: Collector,
                                                         server: str) -> None:
    # Lambda Managed Instances: awslambdaric forks workers from the process that loaded us.
    ids = [f"req-{n}" for n in range(4)]
    meet = tmp_path / "meet"
    meet.mkdir()
    for request_id in ids:
        # Each worker waits for the other: one fast worker cannot take all four.
        runtime_api.invoke(request_id, {"meet": str(meet)})
    process = _start_function(tmp_path, runtime_api, collector, server,
                              AWS_LAMBDA_MAX_CONCURRENCY="2")
    try:
        _wait(lambda: len(collector.of_kind("end")) == 6, process)  # 2 inits, 4 invocations
    finally:
        _stop(process)
    worker_pids = {json.loads(body)["pid"] for _, body in runtime_api.posted.values()}
    assert len(worker_pids) == 2
    assert {hello["pid"] for hello in collector.of_kind("hello")} >= worker_pids
    calls = collector.calls()
    assert all(call["requestId"] == _tag(call)[0] for call in calls if _tag(call)[0] != "init")
    # Each worker's init is its own, named for the worker: its module-level call and its end.
    worker_inits = sorted(f"init:{pid}" for pid in worker_pids)
    assert sorted(call["requestId"] for call in calls if _tag(call)[0] == "init") == worker_inits
    ends = [(e["requestId"], e["calls"]) for e in collector.of_kind("end")]
    assert sorted(ends) == sorted([(init, 1) for init in worker_inits] + [(i, 5) for i in ids])


def test_a_child_forked_without_max_concurrency_keeps_the_shared_init_id(
        tmp_path: Path, runtime_api: RuntimeApi, collector: Collector, server: str) -> None:
    # Classic Lambda: a process the function forks at import is no worker of its own.
    runtime_api.invoke("req-1", {})
    process = _start_function(tmp_path, runtime_api, collector, server, FORK_AT_IMPORT)
    try:
        _wait(lambda: len(collector.of_kind("end")) == 2, process)
    finally:
        _stop(process)
    (child,) = [call for call in collector.calls() if _tag(call)[1] == "child"]
    assert child["requestId"] == "init"


def test_a_child_forked_during_an_invocation_posts_its_calls_under_its_request_id(
        tmp_path: Path, runtime_api: RuntimeApi, collector: Collector, server: str) -> None:
    for request_id in ("req-1", "req-2"):
        runtime_api.invoke(request_id, {})
    process = _start_function(tmp_path, runtime_api, collector, server, FORK_IN_HANDLER)
    try:
        _wait(lambda: len(collector.of_kind("end")) == 3, process)
    finally:
        _stop(process)
    children = {json.loads(body)["child"] for _, body in runtime_api.posted.values()}
    calls = collector.calls()
    assert sorted(call["requestId"] for call in calls) == ["req-1", "req-2"]
    assert all(call["requestId"] == _tag(call)[0] for call in calls)
    # The children said they serve another's invocation, and ended none of them.
    helpers = {hello["pid"] for hello in collector.of_kind("hello") if hello.get("helper")}
    assert helpers == children
    assert [(e["requestId"], e["calls"]) for e in collector.of_kind("end")] == [
        ("init", 0), ("req-1", 0), ("req-2", 0)]


@pytest.mark.parametrize(("capture", "exported"), [("0", [None, None]),
                                                    ("1", ["init", "req-1"])])
def test_the_request_id_is_exported_only_when_subprocesses_are_captured(
        tmp_path: Path, runtime_api: RuntimeApi, collector: Collector, server: str,
        *, capture: str, exported: list[str | None]) -> None:
    runtime_api.invoke("req-1", {})
    process = _start_function(tmp_path, runtime_api, collector, server, FORK_IN_HANDLER,
                              HTTPRECAP_CAPTURE_SUBPROCESSES=capture)
    try:
        _wait(lambda: "req-1" in runtime_api.posted, process)
    finally:
        _stop(process)
    assert json.loads(runtime_api.posted["req-1"][1])["exported"] == exported


def test_a_failed_init_hands_its_calls_over_before_the_error_is_posted(
        tmp_path: Path, runtime_api: RuntimeApi, collector: Collector, server: str) -> None:
    ends_when_reported: list[list[dict[str, Any]]] = []

    class Reported(list):  # type: ignore[type-arg]
        def append(self, body: Any) -> None:
            ends_when_reported.append(collector.of_kind("end"))
            super().append(body)

    runtime_api.init_errors = Reported()
    process = _start_function(tmp_path, runtime_api, collector, server, FAILING_INIT)
    try:
        assert process.wait(30) == 1  # awslambdaric exits after posting the error
    finally:
        _stop(process)
    assert [json.loads(body)["errorType"] for body in runtime_api.init_errors] == [
        "RuntimeError"]
    # The init's end (status error, both calls) had arrived when the runtime reported it.
    (ends,) = ends_when_reported
    assert [(e["requestId"], e["status"], e["calls"]) for e in ends] == [("init", "error", 2)]
    assert [_tag(call) for call in collector.calls()] == [("init", "module")] * 2


def test_posting_a_result_keeps_no_reference_to_it_in_its_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The response awslambdaric posts may be large: the wrapper's frame, which a traceback
    can keep alive, never holds the result (nor does it while the end is handed over)."""
    result = object()
    held: list[bool] = []

    def hand_off(marker: Any) -> None:
        frame = sys._getframe(1)
        frames = []
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        held.append(any(value is result for f in frames[:2] for value in f.f_locals.values()))

    monkeypatch.setattr(invocation, "hand_off", hand_off)
    post = invocation.WRAPPERS["post_invocation_result"]
    assert post(lambda: result, None, (), {}) is result
    assert held == [False]


def test_a_subprocess_given_a_request_id_posts_its_calls_under_it_before_it_exits(
        collector: Collector, server: str) -> None:
    # What a Python subprocess of an invocation sees with HTTPRECAP_CAPTURE_SUBPROCESSES=1.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HTTPRECAP_")}
    environ.update(HTTPRECAP_PORT=str(collector.port), _HTTPRECAP_REQUEST_ID="req-7")
    code = ("import sys; from httprecap.internal import bootstrap; bootstrap.install(); "
            "import urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()")
    subprocess.run([sys.executable, "-c", code, f"{server}/ok?rid=req-7&via=subprocess"],
                   env=environ, check=True, timeout=30)
    assert [(call["requestId"], _tag(call)[1]) for call in collector.calls()] == [
        ("req-7", "subprocess")]
    assert [hello.get("helper") for hello in collector.of_kind("hello")] == [True]
    assert collector.of_kind("end") == []


def test_multiprocessing_hands_a_spawned_child_its_parents_request_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """spawn and forkserver children get the request id with their preparation data (a fork
    server, started once, forks the children of later invocations too)."""
    spawn = ModuleType("spawn")
    prepared: list[dict[str, Any]] = []
    spawn.get_preparation_data = lambda name: {"name": name}  # type: ignore[attr-defined]
    spawn.prepare = prepared.append  # type: ignore[attr-defined]
    invocation.patch_spawn(spawn)
    monkeypatch.setattr(invocation.state, "request_id", "req-parent")
    data = spawn.get_preparation_data("child")  # type: ignore[attr-defined]
    assert data == {"name": "child", invocation.PREPARATION_KEY: "req-parent"}
    # In the child: a helper process (forked by the fork server) takes it up.
    monkeypatch.setattr(invocation.state, "request_id", "req-when-the-server-started")
    monkeypatch.setattr(invocation.state, "helper", True)
    spawn.prepare(data)  # type: ignore[attr-defined]
    assert prepared == [data]
    assert invocation.state.request_id == "req-parent"
