"""SHUTDOWN (`spindown`) right after a burst: the recaps a failing sink kept are all shipped
within Lambda's shutdown deadline, and a sink that never answers cannot make the extension
overstay it (what it could not deliver is said in one line)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_support import (
    Figures,
    Receiver,
    alive,
    invoke_recaps,
    layer_env,
    recaps_in,
    sandbox_for,
    sandbox_processes,
    wait_until,
)

from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

BURST = 20
SHUTDOWN_BUDGET_S = 2.0  # Lambda's, with an external extension (docs/PROTOCOL.md, 3.3)


@pytest.fixture
def http_receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _burst_then_shutdown(layer: Path, upstream: UpstreamServer, truth: Path,
                         receiver: Receiver, mode_at_shutdown: str) -> tuple[float, list[str]]:
    env = layer_env(UPSTREAM_URL=upstream.url,
                    HTTPRECAP_SINKS=f"file://{truth},{receiver.url}")
    sandbox = sandbox_for("work", [layer], env, timeout_s=10)
    with sandbox:
        receiver.mode = "fail"
        for n in range(BURST):
            assert sandbox.invoke({"calls": 10, "tag": f"inv={n}"}).ok
        receiver.mode = mode_at_shutdown
        extension = sandbox_processes(sandbox)["extension"]
        started = time.monotonic()
        shutting_down = threading.Thread(target=sandbox.shutdown)
        shutting_down.start()
        # The extension's own exit, seen through /proc: the sandbox SIGKILLs at the deadline.
        assert wait_until(lambda: not alive(extension), SHUTDOWN_BUDGET_S + 1.0, 0.002)
        took = time.monotonic() - started
        shutting_down.join()
    lines = [line.text for line in sandbox.logs if line.source == "extension"
             and "not delivered before shutdown" in line.text]
    return took, lines


def test_everything_pending_is_shipped_within_the_shutdown_deadline(
        layer_zip: Path, upstream: UpstreamServer, http_receiver: Receiver, tmp_path: Path,
        figures: Figures) -> None:
    truth = tmp_path / "truth.jsonl"
    took, undelivered = _burst_then_shutdown(layer_zip, upstream, truth, http_receiver, "ok")
    expected = list(invoke_recaps(recaps_in(truth)))
    delivered = [recap["requestId"] for recap in http_receiver.delivered_recaps()]
    figures.record("shutdown-after-burst", invocations=BURST, calls=BURST * 10,
                   queuedAtShutdown=BURST, delivered=len(set(delivered)),
                   duplicates=sum(n - 1 for n in Counter(delivered).values()),
                   extensionExitS=round(took, 3), budgetS=SHUTDOWN_BUDGET_S)
    assert len(expected) == BURST
    assert sorted(delivered) == sorted(expected)  # every one, once
    assert undelivered == []
    assert took < SHUTDOWN_BUDGET_S


@pytest.mark.slow
def test_a_sink_that_never_answers_cannot_hold_the_shutdown_past_its_deadline(
        layer_zip: Path, upstream: UpstreamServer, http_receiver: Receiver, tmp_path: Path,
        figures: Figures) -> None:
    truth = tmp_path / "truth.jsonl"
    took, undelivered = _burst_then_shutdown(layer_zip, upstream, truth, http_receiver,
                                             "hang")
    figures.record("shutdown-sink-hanging", invocations=BURST, extensionExitS=round(took, 3),
                   budgetS=SHUTDOWN_BUDGET_S, undeliveredLines=undelivered)
    assert len(invoke_recaps(recaps_in(truth))) == BURST  # the healthy sink got them all
    assert took < SHUTDOWN_BUDGET_S
    (line,) = undelivered
    assert f"{BURST} recap(s) not delivered" in line
