"""Aggregate: a call that came as a row of a `calls` message is encoded from its shape's shared
parts, and comes out exactly as the same call does from its whole CALL."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from httprecap import wire
from httprecap.external.aggregate.encoded_call import START_ORDER, EncodedCall, ShapeParts
from httprecap.external.aggregate.findings.call_facts import CallFacts
from httprecap.external.aggregate.findings.facts import Facts
from httprecap.external.aggregate.findings.registry import Findings

RID = "c94020d1-9001-4995-b5a7-dc0a977d4372"
START_US = 1_790_000_000_000_000
PLAIN = {"method": "GET", "scheme": "https", "host": "api.example.com", "port": 443,
         "path": "/items", "url": "https://api.example.com/items?token=%5BREDACTED%5D",
         "library": "requests", "thread": "MainThread", "aws": None}
SHAPES = [
    PLAIN,
    {**PLAIN, "timeoutS": None, "connection": "reused"},
    {**PLAIN, "timeoutS": 2.5, "thread": "worker-\u00e9\u6f22"},
    {**PLAIN, "method": "POST", "host": "dynamodb.eu-west-1.amazonaws.com", "path": "/",
     "url": "https://dynamodb.eu-west-1.amazonaws.com/", "library": "botocore",
     "aws": {"service": "dynamodb", "operation": "GetItem", "region": "eu-west-1",
             "resource": "orders"}, "timeoutS": 60.0, "connection": "reused"},
    {**PLAIN, "proxy": "proxy.internal:3128", "requestHeaders": {"accept": "*/*"},
     "responseBody": "{\"ok\": true}"},
    {"method": "GET", "host": "169.254.169.254", "url": "http://169.254.169.254/latest"},
]
sizes = st.one_of(st.none(), st.integers(min_value=0, max_value=2**40))
rows = st.tuples(
    st.sampled_from(range(len(SHAPES))), st.text(max_size=12),
    st.integers(min_value=1_600_000_000_000_000, max_value=1_900_000_000_000_000),
    st.one_of(st.floats(min_value=0, max_value=1e6), st.integers(min_value=0, max_value=10**6)),
    st.one_of(st.none(), st.integers(min_value=100, max_value=599)), sizes, sizes)


def _facts(facts: CallFacts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in CallFacts.__slots__}


def _fields(call: EncodedCall) -> dict[str, Any]:
    fields = {name: getattr(call, name) for name in EncodedCall.__slots__ if name != "facts"}
    return {**fields, "facts": _facts(call.facts)}


@settings(max_examples=300, deadline=None)
@given(rows)
def test_a_rows_call_is_encoded_as_its_whole_call_is(values: tuple[Any, ...]) -> None:
    row = list(values)
    shape = SHAPES[row[0]]
    call = wire.row_call(row, RID, SHAPES)
    assert _fields(EncodedCall.of_row(ShapeParts(shape), row)) == _fields(EncodedCall(call))


def test_rows_of_one_shape_and_status_share_their_facts_and_no_more() -> None:
    parts = ShapeParts(SHAPES[3])
    ok = [EncodedCall.of_row(parts, [3, f"1-{n}", 1_790_000_000_000_000, 1.5, 200, 10, 20])
          for n in range(3)]
    throttled = EncodedCall.of_row(parts, [3, "1-9", 1_790_000_000_000_000, 1.5, 400, 10, 20])
    assert ok[0].facts is ok[1].facts is ok[2].facts
    assert throttled.facts is not ok[0].facts and throttled.failed and not ok[0].failed


def _findings(calls: list[EncodedCall], findings: Findings) -> list[dict[str, Any]]:
    ordered = sorted(calls, key=START_ORDER)
    facts = Facts(ordered, started_us=START_US, duration_ms=3_000.0, status="success",
                  http_share=0.9, deadline_us=START_US + 2_500_000)
    return findings.detect(facts)[0]


invocation_rows = st.lists(st.tuples(
    st.sampled_from(range(len(SHAPES))), st.text(min_size=1, max_size=6),
    st.integers(min_value=START_US, max_value=START_US + 2_000_000),
    st.floats(min_value=0, max_value=600), st.sampled_from([200, 200, 302, 404, 429, 503, None]),
    sizes, sizes), max_size=40)


@settings(max_examples=200, deadline=None)
@given(invocation_rows, invocation_rows)
# A group's first call keeps within the time left, a later one of it does not, and another
# host's call outlives it before that: the hosts come in the order of their calls that do.
@example([], [(0, "a", START_US, 0.0, 200, None, None), (2, "b", START_US, 0.0, 200, None, None),
              (2, "c", START_US + 1, 0.0, 200, None, None),
              (3, "d", START_US, 0.0, 200, None, None)])
def test_findings_over_rows_that_share_facts_are_those_over_whole_calls(
        first: list[tuple[Any, ...]], second: list[tuple[Any, ...]]) -> None:
    """Detectors read what a group of rows shares once (`Facts.shared`): what they find, and
    the order they name calls in, is what they find over the same calls one by one."""
    by_rows, one_by_one = Findings(), Findings()  # two invocations: the second has a history
    for values in (first, second):
        rows = [[shape, f"{shape}-{number}-{name}", *rest]
                for number, (shape, name, *rest) in enumerate(values)]
        parts = [ShapeParts(shape) for shape in SHAPES]
        shared = [EncodedCall.of_row(parts[row[0]], row) if parts[row[0]].plain else
                  EncodedCall(wire.row_call(row, RID, SHAPES)) for row in rows]
        whole = [EncodedCall(wire.row_call(row, RID, SHAPES)) for row in rows]
        assert _findings(shared, by_rows) == _findings(whole, one_by_one)
