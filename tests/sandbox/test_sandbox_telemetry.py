"""The Telemetry API: subscription validation and batched delivery to a real listener."""

from __future__ import annotations

import http.server
import json
import re
import threading
import time

from sandbox_support import free_port

from httprecap.sandbox.telemetry_delivery import Stream, Subscription, make_event

VALID = {"schemaVersion": "2022-12-13", "types": ["platform"],
         "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/t"}}


def _with(**changes: object) -> dict[str, object]:
    return {**VALID, **changes}


def test_subscription_is_validated(open_sandbox, make_layer, journal):
    probes = [
        _with(schemaVersion="2021-01-01"),
        _with(types=[]),
        _with(types=["platform", "nope"]),
        _with(destination={"protocol": "HTTP", "URI": "http://example.com:4243/t"}),
        _with(destination={"protocol": "HTTP", "URI": "http://sandbox.localdomain/t"}),
        _with(buffering={"maxItems": 10}),
        _with(buffering={"timeoutMs": 30001}),
        _with(buffering={"maxBytes": 262144, "maxItems": 1000, "timeoutMs": 25}),
    ]
    port = free_port()
    layer = make_layer(ext={"telemetry": {"port": port}, "probe_subscriptions": probes})
    open_sandbox("app.hello", layers=[layer]).invoke({"name": "x"})
    answers = journal.entries("probe", "ext")
    for answer in answers[:-1]:
        assert answer["status"] == 400
        assert json.loads(answer["body"])["errorType"] == "ValidationError"
    assert (answers[-1]["status"], answers[-1]["body"]) == (200, '"OK"')
    assert journal.entries("subscribe", "ext")[0]["status"] == 200


def test_unsupported_telemetry_answers_like_sam_local(open_sandbox, make_layer, journal):
    layer = make_layer(ext={"telemetry": {"port": free_port()}})
    open_sandbox("app.hello", layers=[layer], telemetry_supported=False).invoke({"name": "x"})
    answer = journal.entries("subscribe", "ext")[0]
    assert answer["status"] == 202
    assert json.loads(answer["body"]) == {"errorMessage": "Telemetry API is not supported",
                                          "errorType": "Telemetry.NotSupported"}


def test_delivery_covers_platform_function_and_extension_records(open_sandbox, make_layer,
                                                                 journal):
    layer = make_layer(ext={"telemetry": {"port": free_port()}})
    sandbox = open_sandbox("app.hello", layers=[layer])
    result = sandbox.invoke({"name": "x"})
    sandbox.shutdown()
    received = journal.telemetry("ext")
    types = [event["type"] for event in received]
    for expected in ("platform.initStart", "platform.telemetrySubscription",
                     "platform.initRuntimeDone", "platform.extension", "platform.initReport",
                     "platform.start", "platform.runtimeDone", "platform.report",
                     "function", "extension"):
        assert expected in types, expected
    assert types.index("platform.initStart") < types.index("platform.initReport")
    assert {"type": "function", "record": "hello x"}.items() <= next(
        event for event in received if event["type"] == "function").items()
    subscription = next(e for e in received if e["type"] == "platform.telemetrySubscription")
    assert subscription["record"] == {"name": "ext", "state": "Subscribed",
                                      "types": ["platform", "function", "extension"]}
    report = next(e for e in received if e["type"] == "platform.report")
    assert report["record"]["requestId"] == result.request_id
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"])
               for e in received)
    assert all(isinstance(entry["batch"], list) for entry in journal.entries("telemetry"))


def test_type_filter_is_applied(open_sandbox, make_layer, journal):
    layer = make_layer(ext={"telemetry": {"port": free_port(), "types": ["function"]}})
    sandbox = open_sandbox("app.hello", layers=[layer])
    sandbox.invoke({"name": "x"})
    sandbox.shutdown()
    assert {event["type"] for event in journal.telemetry("ext")} == {"function"}


def test_runtime_done_reaches_the_extension_before_its_next(open_sandbox, make_layer, journal):
    layer = make_layer(ext={"telemetry": {"port": free_port()}, "wait_runtime_done": True})
    sandbox = open_sandbox("app.hello", layers=[layer])
    sandbox.invoke({"name": "x"})
    sandbox.invoke({"name": "y"})
    assert [entry["ok"] for entry in journal.entries("runtime_done_seen")] == [True, True]


def test_nothing_is_delivered_while_frozen(open_sandbox, make_layer, journal):
    layer = make_layer(ext={"telemetry": {"port": free_port()}})
    sandbox = open_sandbox("app.hello", layers=[layer])
    first = sandbox.invoke({"name": "x"})
    time.sleep(0.3)
    delivered = [e for e in journal.telemetry("ext") if e["type"] == "platform.report"]
    assert delivered == []  # the report of invoke N is generated after the last next: frozen
    sandbox.invoke({"name": "y"})
    time.sleep(0.1)
    reports = [e["record"]["requestId"] for e in journal.telemetry("ext")
               if e["type"] == "platform.report"]
    assert first.request_id in reports


def test_a_subscriber_that_falls_behind_gets_logs_dropped(open_sandbox, make_layer, journal):
    layer = make_layer(ext={"telemetry": {"port": free_port(), "buffering": {
        "maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25}}, "listener_delay_s": 0.3})
    sandbox = open_sandbox("app.chatty", layers=[layer], freeze=False)
    sandbox.invoke({"lines": 20000, "width": 100})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        dropped = [e for e in sandbox.telemetry if e["type"] == "platform.logsDropped"]
        if dropped:
            break
        time.sleep(0.05)
    assert dropped and dropped[0]["record"]["droppedRecords"] > 0
    assert set(dropped[0]["record"]) == {"droppedBytes", "droppedRecords", "reason"}


def test_event_times_are_written_as_datetime_writes_them_to_the_millisecond() -> None:
    from datetime import datetime, timezone

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from httprecap.sandbox.telemetry_delivery import iso_time

    def by_datetime(epoch: float) -> str:
        moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    @settings(max_examples=2000, deadline=None)
    @given(st.one_of(st.floats(min_value=0, max_value=4e9),
                     st.integers(min_value=0, max_value=4 * 10**15).map(lambda us: us / 1e6)))
    def check(epoch: float) -> None:
        assert iso_time(epoch) == by_datetime(epoch)

    check()
    assert iso_time(1796618401.9999996) == "2026-12-07T04:40:02.000Z"  # rounds into the next second


class _Listener:
    """A subscriber's listener on loopback: each POSTed batch with the time it came."""

    def __init__(self) -> None:
        batches: list[tuple[float, list[object]]] = []
        self.batches = batches

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                batches.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while sum(len(batch) for _, batch in self.batches) < count:
            assert time.monotonic() < deadline, f"{self.batches!r} after {timeout} s"
            time.sleep(0.005)
        return self.batches[-1][0]


def _stream(listener: _Listener, *, max_items: int, timeout_ms: int) -> Stream:
    gate = threading.Event()
    gate.set()
    subscription = Subscription("t", ("platform",), max_items, 262144, timeout_ms, "127.0.0.1",
                                listener.server.server_address[1], "/")
    return Stream(subscription, gate, lambda event: None)


def test_a_batch_goes_out_at_its_first_events_timeout_and_when_full() -> None:
    listener = _Listener()
    try:
        stream = _stream(listener, max_items=1000, timeout_ms=100)
        offered = time.monotonic()
        for number in range(3):
            stream.offer(make_event("platform.start", {"requestId": f"r{number}"}))
        took = listener.wait(3, 5.0) - offered
        assert 0.09 <= took < 0.6 and [len(batch) for _, batch in listener.batches] == [3]
        stream.close(time.monotonic() + 1)
        full = _stream(listener, max_items=1000, timeout_ms=30_000)
        offered = time.monotonic()
        for number in range(1000):  # a full batch goes out long before its timeout
            full.offer(make_event("platform.start", {"requestId": f"r{number}"}))
        assert listener.wait(1003, 5.0) - offered < 2.0
        full.close(time.monotonic() + 1)
    finally:
        listener.server.shutdown()
