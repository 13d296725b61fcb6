"""The emf sink's per-host and per-AWS-operation metrics: `Latency` values per call, counts,
and cardinality bounded by HTTPRECAP_EMF_TOP (docs/FLEET.md, *Metrics and alarms*)."""

from __future__ import annotations

import io
import json
from typing import Any

from ext_support import T0, call

from httprecap.external.aggregate.encode import EncodedRecap
from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import Context, Outcome, build_recap
from httprecap.external.ship.emf import MAX_VALUES, EmfSink
from httprecap.external.ship.keep import compact
from httprecap.external.ship.registry import build_sinks
from httprecap.external.ship.sink_base import Entry


def _recap(calls: list[dict[str, Any]]) -> EncodedRecap:
    inv = Invocation("r1", "invoke", 0.0)
    for item in calls:
        inv.add_call(EncodedCall(item), 100_000)
    context = Context("orders-api", "$LATEST", {}, 0.1)
    return build_recap(inv, Outcome("success", T0, 100.0), context)


def _documents(recap: EncodedRecap, top: int = 10) -> list[dict[str, Any]]:
    stream = io.BytesIO()
    EmfSink(stream, top=top).send([Entry(recap)])
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _by(documents: list[dict[str, Any]], *dimensions: str) -> list[dict[str, Any]]:
    return [d for d in documents
            if d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName", *dimensions]]]


def _calls_to(hosts: dict[str, int]) -> list[dict[str, Any]]:
    """`count` calls to each host, the n-th lasting n + 1 ms; every third fails."""
    calls, n = [], 0
    for host, count in hosts.items():
        for index in range(count):
            calls.append(call("r1", f"{host}-{index}", n * 0.01, index + 1.0, host=host,
                              status=500 if index % 3 == 2 else 200))
            n += 1
    return calls


def _dynamodb(call_id: str, operation: str, status: int = 200) -> dict[str, Any]:
    aws = {"service": "dynamodb", "operation": operation, "region": "eu-west-1"}
    return call("r1", call_id, 1.0, 4.0, host="dynamodb.eu-west-1.amazonaws.com", aws=aws,
                status=status)


def test_each_host_line_carries_its_calls_durations_as_latency() -> None:
    hosts = _by(_documents(_recap(_calls_to({"a.example": 3, "b.example": 2}))), "Host")
    assert {d["Host"]: d["Latency"] for d in hosts} == {"a.example": [1.0, 2.0, 3.0],
                                                        "b.example": [1.0, 2.0]}
    assert {d["Host"]: (d["Calls"], d["Errors"]) for d in hosts} == {"a.example": (3, 1),
                                                                     "b.example": (2, 0)}
    metrics = hosts[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert {"Name": "Latency", "Unit": "Milliseconds"} in metrics


def test_hosts_past_the_top_are_summed_as_other() -> None:
    recap = _recap(_calls_to({"a.example": 5, "b.example": 4, "c.example": 3, "d.example": 1}))
    hosts = _by(_documents(recap, top=2), "Host")
    assert [(d["Host"], d["Calls"], d["Errors"]) for d in hosts] == [
        ("a.example", 5, 1), ("b.example", 4, 1), ("other", 4, 1)]
    assert sorted(hosts[-1]["Latency"]) == [1.0, 1.0, 2.0, 3.0]
    assert hosts[-1]["HttpTime"] == 7.0


def test_hosts_the_summary_sums_as_other_hosts_are_counted_under_other() -> None:
    recap = _recap(_calls_to({"a.example": 2, "z.example": 1}))
    summary: dict[str, Any] = dict(recap.fields["summary"])
    recap.fields["summary"] = summary  # type: ignore[typeddict-item]
    named = [host for host in summary["hosts"] if host["host"] == "a.example"]
    summary["hosts"] = named  # as a summary past its host limit lists them
    summary["otherHosts"] = {"hosts": 1, "count": 1, "errors": 0, "totalMs": 1.0, "maxMs": 1.0}
    hosts = _by(_documents(recap), "Host")
    assert [(d["Host"], d["Calls"], d.get("Latency")) for d in hosts] == [
        ("a.example", 2, [1.0, 2.0]), ("other", 1, [1.0])]


def test_latency_past_100_values_continues_on_lines_without_counts() -> None:
    hosts = _by(_documents(_recap(_calls_to({"a.example": 250}))), "Host")
    assert [len(d["Latency"]) for d in hosts] == [MAX_VALUES, MAX_VALUES, 50]
    assert [d.get("Calls") for d in hosts] == [250, None, None]
    for continuation in hosts[1:]:
        assert continuation["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
            {"Name": "Latency", "Unit": "Milliseconds"}]
        assert continuation["Host"] == "a.example" and continuation["requestId"] == "r1"
    assert sorted(v for d in hosts for v in d["Latency"]) == sorted(
        float(n % 250 + 1) for n in range(250))


def test_aws_operations_get_calls_errors_and_latency() -> None:
    calls = [_dynamodb("g1", "GetItem"), _dynamodb("g2", "GetItem", 400),
             _dynamodb("g3", "GetItem"), _dynamodb("p1", "PutItem"), _dynamodb("q1", "Query"),
             call("r1", "plain", 2.0)]
    operations = _by(_documents(_recap(calls), top=1), "Service", "Operation")
    assert [(d["Service"], d["Operation"], d["Calls"], d["Errors"], d["Latency"])
            for d in operations] == [("dynamodb", "GetItem", 3, 1, [4.0, 4.0, 4.0]),
                                     ("other", "other", 2, 0, [4.0, 4.0])]


def test_a_recap_without_its_calls_keeps_counts_but_no_latency() -> None:
    documents = _documents(compact(_recap(_calls_to({"a.example": 3}))))
    [host] = _by(documents, "Host")
    assert (host["Calls"], "Latency" in host) == (3, False)
    assert [m["Name"] for m in host["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == [
        "Calls", "Errors", "HttpTime"]
    assert _by(documents, "Service", "Operation") == []


def test_every_document_keeps_to_the_emf_specification() -> None:
    calls = [*_calls_to({f"h{n}.example": n + 1 for n in range(14)}),
             *(_dynamodb(f"d{n}", f"Op{n % 12}") for n in range(130))]
    for document in _documents(_recap(calls)):
        [directive] = document["_aws"]["CloudWatchMetrics"]
        [dimensions] = directive["Dimensions"]
        assert len(dimensions) <= 30
        assert all(isinstance(document[name], str) for name in dimensions)
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            assert isinstance(value, (int, float)) or (
                0 < len(value) <= MAX_VALUES and all(isinstance(v, float) for v in value))
        assert isinstance(document["_aws"]["Timestamp"], int)


def test_emf_top_bounds_the_dimension_values_per_recap() -> None:
    calls = [*_calls_to({f"h{n}.example": n + 1 for n in range(14)}),
             *(_dynamodb(f"d{n}", f"Op{n % 12}") for n in range(130))]
    documents = _documents(_recap(calls))
    assert len({d["Host"] for d in _by(documents, "Host")}) == 10 + 1
    assert len({d["Operation"] for d in _by(documents, "Service", "Operation")}) == 10 + 1


def test_httprecap_emf_top_reaches_the_sink() -> None:
    [sink], _ = build_sinks(("emf",), (), {"HTTPRECAP_EMF_TOP": "2"})
    stream = io.BytesIO()
    sink._stream = stream  # type: ignore[attr-defined]
    sink.send([Entry(_recap(_calls_to({"a.x": 3, "b.x": 2, "c.x": 1})))])
    documents = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [d["Host"] for d in _by(documents, "Host")] == ["a.x", "b.x", "other"]
    [default], _ = build_sinks(("emf",), (), {"HTTPRECAP_EMF_TOP": "many"})
    assert default._top == 10  # type: ignore[attr-defined]


def _sink_documents(environ: dict[str, str], recap: EncodedRecap) -> list[dict[str, Any]]:
    [sink], _ = build_sinks(("emf",), (), environ)
    stream = io.BytesIO()
    sink._stream = stream  # type: ignore[attr-defined]
    sink.send([Entry(recap)])
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_has_the_application_log_level_and_a_timestamp() -> None:
    recap = _recap([*_calls_to({"a.example": 150}), _dynamodb("g1", "GetItem")])
    documents = _sink_documents({"AWS_LAMBDA_LOG_FORMAT": "JSON",
                                 "AWS_LAMBDA_LOG_LEVEL": "warn"}, recap)
    assert len(documents) > 4  # the invocation, a host on two lines, an operation
    assert {d["level"] for d in documents} == {"WARN"}
    assert {d["timestamp"] for d in documents} == {recap["startedAt"]}
    assert {d["level"] for d in _sink_documents({}, recap)} == {"INFO"}
    assert {d["level"] for d in _sink_documents({"AWS_LAMBDA_LOG_LEVEL": "loud"}, recap)} == {
        "INFO"}
