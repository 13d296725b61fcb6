"""Recaps of every shape, built by the extension's own aggregator (build_recap) and encoded as
the stdout sink writes them: 0, 1, 50 and 5,000 calls; failed, throttled and AWS calls;
findings; an init recap; a timeout with a call still in flight; findings off."""

from __future__ import annotations

import json
from typing import Any

from call_support import T0, wire_call

from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.findings.registry import Findings
from httprecap.external.aggregate.function_context import FunctionFacts
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import Context, Outcome, build_recap

CAP = 100_000
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api:live"
FACTS = FunctionFacts(region="eu-west-1", memory_size_mb=512, architecture="arm64",
                      runtime="python3.12")
THROTTLED = ("An error occurred (ThrottlingException) when calling the GetItem operation "
             "(reached max retries: 4): Rate exceeded")


def _dynamodb(request_id: str, call_id: str, offset_ms: float, **fields: Any) -> dict[str, Any]:
    aws = {"service": "dynamodb", "operation": "GetItem", "region": "eu-west-1",
           "resource": "orders"}
    return wire_call(request_id, call_id, offset_ms, 5.0, method="POST", library="botocore",
                     host="dynamodb.eu-west-1.amazonaws.com", path="/", aws=aws, **fields)


def mixed_calls(request_id: str, count: int) -> list[dict[str, Any]]:
    """`count` calls over three hosts: some failed (a 500, an exception), some AWS calls (one
    throttled), five alike DynamoDB calls in a row (a `repeated-call` finding)."""
    calls = []
    for n in range(count):
        kind = n % 10
        if kind < 5:
            calls.append(_dynamodb(request_id, f"c{n}", n * 10.0))
        elif kind == 5:
            calls.append(wire_call(request_id, f"c{n}", n * 10.0, status=500))
        elif kind == 6:
            refused = {"type": "ConnectionRefusedError", "message": "refused"}
            calls.append(wire_call(request_id, f"c{n}", n * 10.0, status=None,
                                   host="db.example.com", error=refused))
        elif kind == 7:
            calls.append(_dynamodb(request_id, f"c{n}", n * 10.0, status=400,
                                   error={"type": "ClientError", "message": THROTTLED}))
        else:
            calls.append(wire_call(request_id, f"c{n}", n * 10.0, 30.0 + n % 7))
    return calls


def recap_line(request_id: str, calls: list[dict[str, Any]], *, phase: str = "invoke",
               status: str = "success", in_flight: tuple[dict[str, Any], ...] = (),
               findings: bool = True) -> str:
    """One recap as the stdout sink writes it (a JSON line)."""
    inv = Invocation(request_id, phase, 0.0)
    inv.function_arn = ARN if phase == "invoke" else None  # an init is invoked by no ARN
    for item in calls:
        inv.add_call(EncodedCall(item), CAP)
    for item in in_flight:
        inv.add_start(item, CAP)
    context = Context("orders-api", "7", {}, 0.4, findings=Findings() if findings else None,
                      facts=FACTS)
    duration = max([100.0, *(c["startedAtUs"] - T0 + 20_000 for c in calls)]) / 1000
    return build_recap(inv, Outcome(status, T0, duration), context).line()


def _in_flight(request_id: str) -> dict[str, Any]:
    notice = wire_call(request_id, "slow", 5.0, host="slow.example.com")
    for name in ("durationMs", "status", "error", "bytesSent", "bytesReceived", "attempts"):
        notice.pop(name)
    return notice


def corpus() -> dict[str, dict[str, Any]]:
    """Each shape's recap, decoded from its line."""
    lines = {
        "no calls": recap_line("r0", []),
        "one call": recap_line("r1", [wire_call("r1", "a")]),
        "50 calls": recap_line("r50", mixed_calls("r50", 50)),
        "5000 calls": recap_line("r5000", mixed_calls("r5000", 5000)),
        "init": recap_line("init", [wire_call("init", "i", host="ssm.eu-west-1.amazonaws.com")],
                           phase="init"),
        "timeout": recap_line("rt", [wire_call("rt", "t")], status="timeout",
                              in_flight=(_in_flight("rt"),)),
        "findings off": recap_line("rf", mixed_calls("rf", 20), findings=False),
    }
    return {shape: json.loads(line) for shape, line in lines.items()}
