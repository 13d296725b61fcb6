"""The findings corpus's labels: for each case, the scenario of tests/e2e/functions/findings it
runs and the exact set of finding kinds each of its invocations must carry (no more, no fewer).

Every case probes one detector (`about`), as a positive (the detector must fire) or a negative
(it must not: the calls come close to its definition in docs/FINDINGS.md and stay out of it),
with AWS or other calls, made one after another (`sync`), on threads or with asyncio. A case of
several steps lets the environment learn first (slow-call's baseline, new-connection's earlier
connection). Cases run in this order in one execution environment; each has upstream hosts of
its own (`hosts`), and its own DynamoDB tables, so that what the extension remembers across
invocations (endpoints' latency, hosts connected to) never mixes two cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("repeated-call", "identical-call", "sequential-calls", "retries", "no-timeout",
         "new-connection", "slow-call", "large-payload", "after-response", "http-bound")
STYLES = ("sync", "threaded", "asyncio")
MIB = 1 << 20


@dataclass(frozen=True)
class Step:
    """One invocation: what the event adds to the case's, and the kinds its recap must carry."""

    kinds: frozenset[str]
    event: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str
    about: str
    positive: bool
    aws: bool
    style: str
    steps: tuple[Step, ...]
    hosts: int = 1
    # What answers on the first: the demo's upstream, `throttling` (DynamoDB refusing every
    # call) or `redirecting` (every GET answered 302 to its `to` after `ms`).
    upstream: str = "demo"
    event: Mapping[str, Any] = field(default_factory=dict)
    # For a kind: fields its finding must have, e.g. {"repeated-call": {"batchOperation": ...}}.
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where the detector disagrees with the definition (docs/FINDINGS.md): what it gets wrong.
    detector_bug: str | None = None

    def __post_init__(self) -> None:
        assert self.about in KINDS and self.style in STYLES, self
        last = self.steps[-1].kinds
        assert (self.about in last) == self.positive, self
        assert all(kind in KINDS for step in self.steps for kind in step.kinds), self


def step(*kinds: str, **event: Any) -> Step:
    return Step(frozenset(kinds), event)


def case(name: str, about: str, positive: bool, aws: bool, style: str, *kinds: str,
         **options: Any) -> Case:
    """A case of one invocation carrying `kinds`."""
    return Case(name, options.pop("scenario", name), about, positive, aws, style,
                options.pop("steps", (step(*kinds),)), **options)


def baseline(**event: Any) -> tuple[Step, ...]:
    """slow-call's baseline: 20 calls to one endpoint in earlier invocations, 4 in each (under
    repeated-call's 5), none of them a finding."""
    return (step(count=4, **event),) * 5


CASES: tuple[Case, ...] = (
    # ----------------------------------------------------------------------- repeated-call
    case("repeated_getitem", "repeated-call", True, True, "sync", "repeated-call",
         event={"table": "corpus-items"},
         fields={"repeated-call": {"batchOperation": "BatchGetItem", "count": 20,
                                   "endpoint": "dynamodb GetItem corpus-items"}}),
    case("repeated_send_threaded", "repeated-call", True, True, "threaded", "repeated-call",
         event={"queue": "corpus-orders"},
         fields={"repeated-call": {"batchOperation": "SendMessageBatch", "count": 8}}),
    case("repeated_ids", "repeated-call", True, False, "sync", "repeated-call",
         fields={"repeated-call": {"count": 5}}),
    case("repeated_query_async", "repeated-call", True, False, "asyncio", "repeated-call",
         fields={"repeated-call": {"count": 6}}),
    case("repeated_posts_one_url", "repeated-call", True, False, "sync", "repeated-call",
         fields={"repeated-call": {"count": 6}}),
    case("getitem_tables", "repeated-call", False, True, "sync",
         event={"tables": ["corpus-a", "corpus-b", "corpus-c"]}),
    case("below_repeated_min", "repeated-call", False, False, "threaded"),
    case("different_endpoints", "repeated-call", False, False, "sync"),
    # ---------------------------------------------------------------------- identical-call
    case("identical_get", "identical-call", True, False, "sync", "identical-call",
         fields={"identical-call": {"count": 2}}),
    case("identical_gather", "identical-call", True, False, "asyncio", "identical-call",
         fields={"identical-call": {"count": 3}}),
    case("identical_s3_get", "identical-call", True, True, "sync", "identical-call",
         event={"bucket": "corpus-bucket"}),
    case("post_twice", "identical-call", False, False, "sync"),
    case("get_different_queries", "identical-call", False, False, "threaded"),
    case("getitem_same_key_twice", "identical-call", False, True, "sync",
         event={"table": "corpus-getitem-same-key-twice"}),
    # -------------------------------------------------------------------- sequential-calls
    case("sequential_hosts", "sequential-calls", True, False, "sync", "sequential-calls",
         hosts=3, fields={"sequential-calls": {"count": 3}}),
    case("sequential_aws_and_http", "sequential-calls", True, True, "sync", "sequential-calls",
         event={"table": "corpus-sequential", "bucket": "corpus-sequential"},
         fields={"sequential-calls": {"count": 3}}),
    case("sequential_awaits", "sequential-calls", True, False, "asyncio", "sequential-calls",
         hosts=3),
    case("sequential_around_not_modified", "sequential-calls", True, False, "sync",
         "sequential-calls", hosts=3, fields={"sequential-calls": {"count": 3}}),
    case("concurrent_threads_aws", "sequential-calls", False, True, "threaded",
         event={"table": "corpus-concurrent", "bucket": "corpus-concurrent"}),
    case("concurrent_gather", "sequential-calls", False, False, "asyncio", hosts=3),
    case("paginated", "sequential-calls", False, False, "sync"),
    case("sequential_small_share", "sequential-calls", False, False, "sync", hosts=2),
    case("redirect_followed_by_hand", "sequential-calls", False, False, "sync", hosts=2,
         upstream="redirecting"),
    case("sequential_fast_aws", "sequential-calls", False, True, "sync",
         event={"table": "corpus-sequential-fast-aws", "bucket": "corpus-bucket",
                "queue": "corpus-orders"}),
    # ----------------------------------------------------------------------------- retries
    case("retried_503", "retries", True, False, "sync", "retries",
         fields={"retries": {"count": 1, "retries": 2, "storm": False}}),
    case("aws_retry_storm", "retries", True, True, "threaded", "retries",
         fields={"retries": {"count": 3, "retries": 6, "storm": True}}),
    case("throttled_429_async", "retries", True, False, "asyncio", "retries",
         fields={"retries": {"count": 1, "retries": 0, "throttled": 1}}),
    case("aws_throttled_once", "retries", True, True, "sync", "retries",
         upstream="throttling", fields={"retries": {"count": 1, "throttled": 1}}),
    case("redirected", "retries", False, False, "sync"),
    case("failed_once_async", "retries", False, False, "asyncio"),
    case("aws_first_try", "retries", False, True, "sync",
         event={"table": "corpus-aws-first-try", "bucket": "corpus-bucket"}),
    # -------------------------------------------------------------------------- no-timeout
    case("requests_without_timeout", "no-timeout", True, False, "sync", "no-timeout"),
    case("boto3_default_timeouts", "no-timeout", True, True, "sync", "no-timeout",
         event={"table": "corpus-boto3-default-timeouts"}),
    case("aiohttp_default_timeout", "no-timeout", True, False, "asyncio", "no-timeout"),
    case("requests_with_timeout", "no-timeout", False, False, "sync"),
    case("boto3_bounded_threaded", "no-timeout", False, True, "threaded",
         event={"table": "corpus-boto3-bounded-threaded"}),
    case("httpx_default_timeout", "no-timeout", False, False, "asyncio"),
    # ---------------------------------------------------------------------- new-connection
    case("requests_get_each_time", "new-connection", True, False, "sync",
         steps=(step(), step("new-connection"))),
    case("boto3_client_in_handler", "new-connection", True, True, "sync",
         steps=(step("new-connection"), step("new-connection")),  # earlier cases called AWS
         event={"table": "corpus-boto3-client-in-handler"}),
    case("async_client_each_time", "new-connection", True, False, "asyncio",
         steps=(step(), step("new-connection"))),
    case("session_reused", "new-connection", False, False, "sync", steps=(step(), step())),
    case("async_client_kept", "new-connection", False, False, "asyncio",
         steps=(step(), step())),
    case("module_client_reused", "new-connection", False, True, "sync", steps=(step(), step()),
         event={"table": "corpus-module-client-reused"}),
    # --------------------------------------------------------------------------- slow-call
    case("slow_after_baseline", "slow-call", True, False, "sync", scenario="post_slow",
         steps=(*baseline(ms=1), step("slow-call", ms=300))),
    case("slow_aws_after_baseline", "slow-call", True, True, "sync", scenario="getitem_delayed",
         steps=(*baseline(), step("slow-call", delay_s=0.3)),
         event={"table": "corpus-slow"},
         fields={"slow-call": {"endpoint": "dynamodb GetItem corpus-slow"}}),
    case("slow_without_baseline", "slow-call", False, False, "threaded", scenario="post_slow",
         steps=(step(ms=300, threaded=True),)),
    case("slow_steadily", "slow-call", False, False, "asyncio", scenario="post_slow",
         steps=(*baseline(ms=60, gather=True), step(ms=120, gather=True))),
    case("slow_under_floor", "slow-call", False, False, "sync", scenario="post_slow",
         steps=(*baseline(ms=0), step(ms=60))),
    # ----------------------------------------------------------------------- large-payload
    case("large_echo", "large-payload", True, False, "sync", "large-payload",
         event={"bytes": MIB}),
    case("large_s3_roundtrip", "large-payload", True, True, "sync", "large-payload",
         scenario="s3_roundtrip", event={"bucket": "corpus-bucket", "bytes": MIB + MIB // 2}),
    case("just_under_large_async", "large-payload", False, False, "asyncio",
         scenario="large_echo_async", event={"bytes": MIB - 1}),
    case("small_s3_threaded", "large-payload", False, True, "threaded", scenario="s3_roundtrip",
         event={"bucket": "corpus-bucket", "bytes": 10_000, "threaded": True}),
    # ---------------------------------------------------------------------- after-response
    case("background_http", "after-response", True, False, "threaded", "after-response"),
    case("settle_http", "after-response", False, False, "sync", scenario="settle"),
    case("background_aws", "after-response", True, True, "threaded", "after-response",
         event={"queue": "corpus-background"}),
    case("settle_aws", "after-response", False, True, "sync", scenario="settle"),
    case("background_then_raise", "after-response", True, False, "threaded", "after-response"),
    case("settle_raise", "after-response", False, False, "sync", scenario="settle"),
    case("thread_joined", "after-response", False, False, "threaded"),
    case("background_done_in_time", "after-response", False, True, "threaded",
         event={"table": "corpus-background-done-in-time"}),
    # -------------------------------------------------------------------------- http-bound
    case("one_slow_call", "http-bound", True, False, "sync", "http-bound"),
    case("aws_threaded_waits", "http-bound", True, True, "threaded", "http-bound",
         event={"tables": ["corpus-wait-a", "corpus-wait-b", "corpus-wait-c"]}),
    case("wait_then_call", "http-bound", False, False, "sync"),
    case("short_slow_call", "http-bound", False, False, "asyncio"),
    case("short_aws", "http-bound", False, True, "sync", event={"table": "corpus-short-aws"}),
)


def _named(*keys: str) -> tuple[str, ...]:
    """The AWS resources the cases name under `keys` in their events, each once."""
    names: dict[str, None] = {}
    for each in CASES:
        for key in keys:
            value = each.event.get(key, ())
            names.update(dict.fromkeys([value] if isinstance(value, str) else value))
    return tuple(names)


# Each case that calls DynamoDB has tables of its own: slow-call judges an endpoint (service,
# operation, table) once earlier invocations made 20 calls to it, and a busy machine can make
# a call to a well-known table slow enough to count.
TABLES = _named("table", "tables")
QUEUES = _named("queue")
BUCKETS = _named("bucket")
