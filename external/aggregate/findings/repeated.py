"""Findings: `repeated-call` (N+1) and `identical-call` (extension process; docs/FINDINGS.md).

Both group the invocation's calls, a group of calls that share their facts at a time
(`Facts.shared`): by endpoint (ids, numbers and query values left out; for AWS, service,
operation and resource) and, for GETs, by URL.
"""

from __future__ import annotations

from httprecap.external.aggregate.findings.facts import merged
from httprecap.external.aggregate.findings.finding import INFO, WARNING, finding, millis, plural

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.external.aggregate.findings.facts import Facts
    from httprecap.external.aggregate.findings.finding import Finding, Thresholds
    from httprecap.external.aggregate.findings.history import History

# (service, operation) -> the operation that does many at once.
BATCH_OPERATIONS: dict[tuple[Any, Any], str] = {
    ("dynamodb", "GetItem"): "BatchGetItem",
    ("dynamodb", "PutItem"): "BatchWriteItem",
    ("dynamodb", "DeleteItem"): "BatchWriteItem",
    ("dynamodb", "ExecuteStatement"): "BatchExecuteStatement",
    ("sqs", "SendMessage"): "SendMessageBatch",
    ("sqs", "DeleteMessage"): "DeleteMessageBatch",
    ("sqs", "ChangeMessageVisibility"): "ChangeMessageVisibilityBatch",
    ("kinesis", "PutRecord"): "PutRecords",
    ("firehose", "PutRecord"): "PutRecordBatch",
    ("sns", "Publish"): "PublishBatch",
    ("events", "PutEvents"): "PutEvents",
    ("s3", "DeleteObject"): "DeleteObjects",
    ("secretsmanager", "GetSecretValue"): "BatchGetSecretValue",
    ("ssm", "GetParameter"): "GetParameters",
    ("cloudwatch", "PutMetricData"): "PutMetricData",
}


def _groups(facts: Facts) -> dict[str, list[EncodedCall]]:
    return merged((told.endpoint, calls) for told, calls in facts.shared)


def repeated_calls(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    found = []
    for endpoint, calls in _groups(facts).items():
        if len(calls) < limits.repeated_min:
            continue
        aws = calls[0].facts.aws
        if aws is None and calls[0].facts.method == "GET" and _one_url(calls):
            continue  # one GET again and again: `identical-call`
        found.append(_repeated(endpoint, calls, aws))
    return found


def _one_url(calls: list[EncodedCall]) -> bool:
    url = calls[0].facts.url
    return all(call.facts.url == url for call in calls)


def _repeated(endpoint: str, calls: list[EncodedCall], aws: dict[str, Any] | None) -> Finding:
    total = round(sum(call.duration_ms for call in calls), 3)
    batch = None if aws is None else BATCH_OPERATIONS.get((aws.get("service"),
                                                          aws.get("operation")))
    if batch is not None:
        advice = f"one {batch} would do"
        fields = {"batchOperation": batch}
    else:
        advice = ("make them in one call, or concurrently" if aws is not None else
                  "fetch them in one request, or concurrently")
        fields = {}
    message = f"{_what(len(calls), endpoint, aws)} ({millis(total)} in all): {advice}"
    return finding("repeated-call", WARNING, message, calls, endpoint=endpoint,
                   count=len(calls), totalMs=total, **fields)


def _what(count: int, endpoint: str, aws: dict[str, Any] | None) -> str:
    """`20 dynamodb GetItem calls on orders`, `12 calls to GET api.example.com/v1/items/{id}`."""
    if aws is None:
        return f"{count:,} calls to {endpoint}"
    named = f"{count:,} {aws.get('service')} {aws.get('operation')} calls"
    return f"{named} on {aws['resource']}" if aws.get("resource") else named


def identical_calls(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    by_url = merged((told.url, calls) for told, calls in facts.shared if told.method == "GET")
    return [_identical(url, calls) for url, calls in by_url.items()
            if len(calls) >= limits.identical_min]


def _identical(url: str, calls: list[EncodedCall]) -> Finding:
    total = round(sum(call.duration_ms for call in calls), 3)
    message = f"GET {url} {plural(len(calls), 'time')} ({millis(total)} in all): a cache would do"
    return finding("identical-call", INFO, message, calls, url=url, count=len(calls),
                   totalMs=total)
