"""A handler module that makes calls and then raises: its init recap (status error, holding
those calls) ships as soon as the init fails, without waiting for SHUTDOWN; the caller gets
the init error as it would without the layer."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import layer_env, recaps_in, sandbox_for

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import Sandbox
from httprecap.sandbox.logs import LogLine

pytestmark = pytest.mark.e2e

WAIT_S = 5.0


class _HoldAtInitReport:
    """Holds the sandbox's lifecycle thread at the first INIT_REPORT line (logged after the
    init failed and before the environment is reset, i.e. before SHUTDOWN) until the init
    recap is in the sink, and remembers what the sink held then."""

    def __init__(self, sink: Path) -> None:
        self.sink = sink
        self.seen: list[dict[str, Any]] | None = None
        self._done = threading.Event()

    def __call__(self, line: LogLine) -> None:
        if self._done.is_set() or not line.text.startswith("INIT_REPORT"):
            return
        self._done.set()
        deadline = time.monotonic() + WAIT_S
        while not recaps_in(self.sink) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.seen = recaps_in(self.sink)


def test_a_failed_init_ships_its_recap_without_shutdown(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}")
    hold = _HoldAtInitReport(sink)
    config = sandbox_for("initfail", layer_zip, env, timeout_s=5).config
    with Sandbox(config, on_log=hold) as sandbox:
        result = sandbox.invoke({})
    assert result.function_error == "Unhandled"
    error = json.loads(result.payload)
    assert (error["errorType"], error["errorMessage"]) == (
        "RuntimeError", "the configuration is missing")
    assert hold.seen is not None
    (recap,) = hold.seen  # shipped while the environment was still up: before any SHUTDOWN
    assert (recap["phase"], recap["requestId"], recap["status"]) == ("init", "init", "error")
    assert [(call["path"], call["status"]) for call in recap["calls"]] == [
        ("/fast", 200), ("/status/503", 503)]
    assert recap["dropped"]["count"] == 0
