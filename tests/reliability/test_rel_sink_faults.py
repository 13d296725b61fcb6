"""Sinks that fail: an HTTP receiver answering 500, a refused port, a receiver that never
answers, and a moto server (Kinesis) that is stopped. A file sink beside the failing one is the
record of truth. While the sink is down no invocation waits beyond the ship budget; once it
is back every recap the retry queue kept is delivered exactly once, and the ones the bounded
queue had to drop are counted (`sinkRetryQueueFull`) in a later recap."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from rel_support import (
    Figures,
    Receiver,
    free_port,
    invoke_recaps,
    layer_env,
    median,
    recaps_in,
    sandbox_for,
)

from httprecap.demo.aws import FAKE_CREDENTIALS
from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult

pytestmark = pytest.mark.e2e

CALLS = 5
FAILING = 8  # invocations while the sink is down
RETRY_QUEUE = 4  # HTTPRECAP_RETRY_QUEUE: fewer than FAILING, so some recaps must be dropped
SHIP_BUDGET_MS = 50  # the default HTTPRECAP_SHIP_BUDGET_MS
# The extension's time after the response while a sink is down: the budget, plus the
# hand-off and recap building (a few ms), plus room for a loaded CI machine.
EXTENSION_MS_BOUND = SHIP_BUDGET_MS + 60.0
# An AWS sink's worker runs botocore (pure Python) while the run loop waits: the two share
# the GIL, so the run loop gets back later after the budget than with the http sink.
AWS_EXTENSION_MS_BOUND = SHIP_BUDGET_MS + 120.0
REST_AFTER_RECOVERY_S = 2.2  # longer than the sink's backoff can have grown to by then


class Outcome:
    """What one run saw: the invocations, the truth (file sink), what the sink got."""

    def __init__(self, failing: list[InvokeResult], after: list[InvokeResult],
                 truth: list[dict[str, Any]], delivered_ids: list[str]) -> None:
        self.failing = failing
        self.after = after
        self.truth = truth
        self.delivered_ids = delivered_ids

    @property
    def counted_drops(self) -> int:
        return sum(recap["dropped"]["reasons"].get("sinkRetryQueueFull", 0)
                   for recap in self.truth)

    def figures(self) -> dict[str, Any]:
        overheads = [r.extension_overhead_ms for r in self.failing]
        duplicates = sum(n - 1 for n in Counter(self.delivered_ids).values() if n > 1)
        return {"invocations": len(self.failing) + len(self.after) + 1,
                "calls": (len(self.failing) + len(self.after) + 1) * CALLS,
                "recaps": len(self.truth), "delivered": len(set(self.delivered_ids)),
                "droppedCounted": self.counted_drops, "duplicates": duplicates,
                "retryQueue": RETRY_QUEUE,
                "extensionMsWhileDownMedian": round(median(overheads), 1),
                "extensionMsWhileDownMax": round(max(overheads), 1),
                "extensionMsWhileDown": [round(ms, 1) for ms in overheads]}


class Stage:
    """The built layer, the upstream and a scratch directory: what every case runs on."""

    def __init__(self, layer: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
        self.layer, self.upstream, self.tmp_path = layer, upstream, tmp_path


@pytest.fixture
def stage(layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> Stage:
    return Stage(layer_zip, upstream, tmp_path)


def _run(stage: Stage, sink: str, *, break_sink: Callable[[], None],
         mend_sink: Callable[[], None], read_sink: Callable[[], list[str]],
         **env: str) -> Outcome:
    layer, upstream, tmp_path = stage.layer, stage.upstream, stage.tmp_path
    truth = tmp_path / "truth.jsonl"
    environ = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{truth},{sink}",
                        HTTPRECAP_RETRY_QUEUE=str(RETRY_QUEUE), **env)

    def event(n: int) -> dict[str, Any]:
        return {"calls": CALLS, "tag": f"inv={n}"}

    with sandbox_for("work", [layer], environ, timeout_s=10) as sandbox:
        assert sandbox.invoke(event(0)).ok
        break_sink()
        failing = [sandbox.invoke(event(n)) for n in range(1, FAILING + 1)]
        mend_sink()
        time.sleep(REST_AFTER_RECOVERY_S)
        after = [sandbox.invoke(event(n)) for n in range(FAILING + 1, FAILING + 4)]
    # The sandbox is shut down (SHUTDOWN spindown): the extension flushed its queues.
    for result in failing + after:
        assert result.ok, result.payload
    return Outcome(failing, after, list(invoke_recaps(recaps_in(truth)).values()), read_sink())


def _check(outcome: Outcome, extension_ms_bound: float = EXTENSION_MS_BOUND) -> None:
    truth_ids = [recap["requestId"] for recap in outcome.truth]
    assert len(truth_ids) == FAILING + 4  # the file sink, unaffected, has every recap
    delivered = outcome.delivered_ids
    assert len(delivered) == len(set(delivered)), "a recap was delivered twice"
    assert set(delivered) <= set(truth_ids)
    missing = set(truth_ids) - set(delivered)
    # What the sink never got is exactly what the bounded queue dropped and said so.
    assert len(missing) == outcome.counted_drops
    assert {r.request_id for r in outcome.after} <= set(delivered)
    for result in outcome.failing:
        assert result.extension_overhead_ms < extension_ms_bound


def _ids(receiver: Receiver) -> list[str]:
    return [recap["requestId"] for recap in receiver.delivered_recaps()
            if recap["phase"] == "invoke"]


@pytest.fixture
def http_receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.mark.parametrize("failure", ["http-500",
                                     pytest.param("never-answers", marks=pytest.mark.slow)])
def test_a_failing_http_sink_costs_at_most_the_budget_and_recovers_without_duplicates(
        failure: str, stage: Stage, http_receiver: Receiver, figures: Figures) -> None:
    def break_sink() -> None:
        http_receiver.release.clear()
        http_receiver.mode = "fail" if failure == "http-500" else "hang"

    def mend_sink() -> None:
        http_receiver.mode = "ok"
        http_receiver.release.set()

    outcome = _run(stage, http_receiver.url, break_sink=break_sink, mend_sink=mend_sink,
                   read_sink=lambda: _ids(http_receiver))
    figures.record(f"sink-{failure}", **outcome.figures(), attempts=http_receiver.attempts)
    _check(outcome)


def test_a_refused_http_sink_recovers_when_its_port_opens(
        stage: Stage, figures: Figures) -> None:
    port = free_port()
    servers: list[Receiver] = []

    def mend_sink() -> None:
        servers.append(Receiver(port).start())

    try:
        outcome = _run(stage, f"http://127.0.0.1:{port}/recaps", break_sink=lambda: None,
                       mend_sink=mend_sink, read_sink=lambda: _ids(servers[0]))
    finally:
        for server in servers:
            server.stop()
    # Nothing listened from the start: the warm-up invocation's recap waited in the queue too.
    figures.record("sink-refused", **outcome.figures())
    _check(outcome)


class StoppableMoto:
    """moto on a fixed loopback port that can be stopped and started again (its data lives
    in this process, so a stream survives the restart)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port,
                                          verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def kinesis(self) -> Any:
        return boto3.client("kinesis", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="a", aws_secret_access_key="b")


@pytest.fixture
def stoppable_moto() -> Iterator[StoppableMoto]:
    server = StoppableMoto()
    server.start()
    yield server
    server.stop()


def _kinesis_ids(moto: StoppableMoto, stream: str) -> list[str]:
    client = moto.kinesis()
    shard = client.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]
    iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = client.get_records(ShardIterator=iterator, Limit=10000)["Records"]
    recaps = [json.loads(record["Data"]) for record in records]
    return [recap["requestId"] for recap in recaps if recap["phase"] == "invoke"]


@pytest.mark.slow
def test_a_stopped_moto_server_costs_at_most_the_budget_and_kinesis_gets_every_kept_recap(
        stage: Stage, stoppable_moto: StoppableMoto, figures: Figures) -> None:
    stoppable_moto.kinesis().create_stream(StreamName="recaps", ShardCount=1)
    aws_env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": stoppable_moto.url}
    outcome = _run(stage, "kinesis://recaps", break_sink=stoppable_moto.stop,
                   mend_sink=stoppable_moto.start,
                   read_sink=lambda: _kinesis_ids(stoppable_moto, "recaps"), **aws_env)
    figures.record("sink-moto-stopped", **outcome.figures())
    _check(outcome, AWS_EXTENSION_MS_BOUND)
