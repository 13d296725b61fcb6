"""The findings in the sinks: EMF counts them per kind, OTLP puts them on the invocation's span
as events (parsed with opentelemetry-proto, as in test_sinks.py)."""

from __future__ import annotations

import io
import json
from typing import Any

from ext_support import T0, Receiver, call
from test_sinks import TRACE, _parse_otlp

from httprecap.external.aggregate.encode import EncodedRecap
from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.findings.registry import Findings
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import Context, Outcome, build_recap
from httprecap.external.ship.emf import EmfSink
from httprecap.external.ship.otlp import OtlpSink
from httprecap.external.ship.sink_base import Entry


def _recap_with_findings() -> EncodedRecap:
    """Five GETs of one item each (repeated-call) and the same GET twice (identical-call)."""
    inv = Invocation("r1", "invoke", 0.0)
    inv.trace = TRACE
    wire = [call("r1", f"i{n}", n * 10.0, path=f"/v1/items/{n}",
                 url=f"https://api.example.com/v1/items/{n}") for n in range(5)]
    wire += [call("r1", f"s{n}", 60.0 + n * 10.0, path="/v1/config",
                  url="https://api.example.com/v1/config") for n in range(2)]
    for item in wire:
        inv.add_call(EncodedCall(item), 100)
    return build_recap(inv, Outcome("success", T0, 100.0),
                       Context("orders-api", "$LATEST", {}, 0.1, findings=Findings()))


def test_emf_counts_findings_by_function_and_kind() -> None:
    stream = io.BytesIO()
    EmfSink(stream).send([Entry(_recap_with_findings())])
    documents = [json.loads(line) for line in stream.getvalue().splitlines()]
    counted = [d for d in documents if "Finding" in d]
    assert [(d["Finding"], d["Findings"]) for d in counted] == [("identical-call", 1),
                                                                ("repeated-call", 1)]
    directive = counted[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["FunctionName", "Finding"]]
    assert directive["Metrics"] == [{"Name": "Findings", "Unit": "Count"}]
    assert counted[0]["FunctionName"] == "orders-api"


def test_emf_without_findings_writes_no_finding_line() -> None:
    recap = _recap_with_findings()
    recap.fields["summary"] = {**recap.fields["summary"], "findings": {}}
    stream = io.BytesIO()
    EmfSink(stream).send([Entry(recap)])
    assert all("Finding" not in json.loads(line) for line in stream.getvalue().splitlines())


def _event_attributes(event: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in event.attributes:
        kind = item.value.WhichOneof("value")
        value = getattr(item.value, kind)
        if kind == "array_value":
            value = [entry.string_value for entry in value.values]
        values[item.key] = value
    return values


def test_otlp_puts_each_finding_on_the_invocation_span_as_an_event(receiver: Receiver) -> None:
    OtlpSink(f"otlp+http://127.0.0.1:{receiver.port}", "us-east-1").send(
        [Entry(_recap_with_findings())])
    server, *clients = _parse_otlp(receiver.bodies[0]).resource_spans[0].scope_spans[0].spans
    assert [event.name for event in server.events] == ["repeated-call", "identical-call"]
    repeated = server.events[0]
    assert repeated.time_unix_nano == server.end_time_unix_nano
    attributes = _event_attributes(repeated)
    assert attributes["httprecap.finding.severity"] == "warning"
    assert attributes["httprecap.finding.call_ids"] == [f"i{n}" for n in range(5)]
    assert attributes["httprecap.finding.count"] == 5
    assert attributes["httprecap.finding.endpoint"] == "GET api.example.com/v1/items/{id}"
    assert all(not client.events for client in clients)
