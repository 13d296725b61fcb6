"""Fleet: the CloudWatch Logs Insights queries over recaps, the one source of them (dev-time).

Each query answers one question across every function whose log group holds recaps. The
`httprecap fleet` command runs them with a `SOURCE logGroups(namePrefix: [...])` line in front
(SOURCE is for the API and CLI only, so the saved query definitions of the examples, which
the console shows, leave it out and name their log groups instead); fleet/insights_iac.py renders
them into the SAM template, the CDK stack and the Terraform example (docs/FLEET.md).

Every query starts from the recap lines (`filter type = "httprecap.recap"`, a field Logs
Insights discovers in any recap: it comes first) and reads the rest through
`jsonParse(@message)`, so neither the 200 fields Logs Insights discovers per event nor the
order of the recap's fields limit what a query can reach; arrays (`calls`, `summary.hosts`,
`findings`) are read one element per row with `unnest`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from httprecap.errors import UsageError

RECAPS = 'filter type = "httprecap.recap"\n| fields jsonParse(@message) as recap'
DEFAULT_PREFIX = "/aws/lambda/"
MAX_PREFIXES = 5  # SOURCE logGroups(namePrefix: [...]) takes at most five
# Log group names: 1-512 of these characters (CreateLogGroup's logGroupName pattern).
_LOG_GROUP = re.compile(r"[\.\-_/#A-Za-z0-9]{1,512}")


@dataclass(frozen=True)
class Query:
    """One named Logs Insights query; `body` has no SOURCE line."""

    name: str
    title: str
    question: str
    body: str

    def with_source(self, prefixes: tuple[str, ...]) -> str:
        """The query as StartQuery's `queryString` over the log groups named by `prefixes`."""
        return f"{source_line(prefixes)}\n| {self.body}"


def source_line(prefixes: tuple[str, ...]) -> str:
    """`SOURCE logGroups(namePrefix: ["/aws/lambda/"])`, the prefixes checked first."""
    if not prefixes or len(prefixes) > MAX_PREFIXES:
        raise UsageError(f"give 1 to {MAX_PREFIXES} log group prefixes (SOURCE's limit)")
    for prefix in prefixes:
        if not _LOG_GROUP.fullmatch(prefix):
            raise UsageError(f"{prefix!r} is not a log group name prefix "
                             "(letters, digits and . - _ / # only)")
    return f"SOURCE logGroups(namePrefix: [{', '.join(map(json.dumps, prefixes))}])"


QUERIES: tuple[Query, ...] = (
    Query(
        "host-latency", "httprecap: call latency per host",
        "How long do calls to each host take, across every function? (calls, p50, p95, p99)",
        f"""{RECAPS}
| unnest recap.calls into call
| stats count(*) as calls, pct(call.durationMs, 50) as p50Ms, pct(call.durationMs, 95) as p95Ms,
    pct(call.durationMs, 99) as p99Ms, max(call.durationMs) as maxMs by call.host
| sort p95Ms desc
| limit 100"""),
    Query(
        "host-errors", "httprecap: failed calls per host",
        "Which hosts fail, how often, and how many functions call each? (errors / calls)",
        f"""{RECAPS}
| unnest recap.summary.hosts into host
| stats sum(host.count) as calls, sum(host.errors) as errors, sum(host.totalMs) as totalMs,
    max(host.maxMs) as maxMs, count_distinct(recap.functionName) as functions by host.host
| sort errors desc
| limit 100"""),
    Query(
        "slowest-calls", "httprecap: the slowest calls",
        "Which single calls took longest, in which function and invocation?",
        f"""{RECAPS}
| unnest recap.calls into call
| sort call.durationMs desc
| limit 50
| display recap.functionName, recap.functionVersion, recap.requestId, call.method, call.host,
    call.path, call.status, call.durationMs"""),
    Query(
        "failed-calls", "httprecap: failed calls by host and status",
        "Which hosts answer with which error status or exception?",
        f"""{RECAPS}
| unnest recap.calls into call
| filter call.status >= 400 or ispresent(call.error.type)
| stats count(*) as failed by call.host, call.status, call.error.type
| sort failed desc
| limit 100"""),
    Query(
        "throttled-aws", "httprecap: throttled AWS operations",
        "Which AWS operations end throttled, in which regions and functions?",
        f"""{RECAPS}
| unnest recap.calls into call
| filter ispresent(call.aws.operation) and (call.status = 429 or call.error.message like
    /(?i)throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|TooManyRequests|SlowDown/)
| stats count(*) as throttled by call.aws.service, call.aws.operation, call.aws.region,
    recap.accountId, recap.functionName
| sort throttled desc
| limit 100"""),
    Query(
        "findings-by-kind", "httprecap: findings by kind",
        "Which findings fire, how often, in which functions and versions?",
        f"""{RECAPS}
| unnest recap.findings into finding
| stats count(*) as findings, count_distinct(recap.requestId) as invocations
    by finding.kind, finding.severity, recap.accountId, recap.functionName, recap.functionVersion
| sort findings desc
| limit 100"""),
    Query(
        "functions-by-http-share", "httprecap: functions by HTTP share",
        "Which functions spend their time waiting on HTTP? (mean share of wall-clock time)",
        f"""{RECAPS}
| filter recap.phase = "invoke"
| stats count(*) as invocations, avg(recap.summary.httpShare) as httpShare,
    avg(recap.durationMs) as avgMs, sum(recap.summary.count) as calls,
    sum(recap.summary.errors) as errors, avg(recap.memorySizeMB) as memoryMB
    by recap.accountId, recap.region, recap.functionName
| sort httpShare desc
| limit 100"""),
)

_BY_NAME = {query.name: query for query in QUERIES}


def query_named(name: str) -> Query:
    """The query called `name`, or a usage error listing them all."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown query {name!r}: one of {', '.join(_BY_NAME)} "
                         "(httprecap fleet --list)") from None
