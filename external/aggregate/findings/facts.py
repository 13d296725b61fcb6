"""Findings: what the detectors read about the invocation (extension process).

The detectors read the invocation's `Facts` after the response: its calls (each with the
`CallFacts` taken from its wire message when it arrived, call_facts.py) and its outcome.
Endpoints (docs/FINDINGS.md, *Endpoints*) are worked out once per distinct method, host and
path (or AWS operation and resource) and remembered, so a thousand calls to a few endpoints
cost a thousand dictionary lookups.
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

    from httprecap.external.aggregate.encoded_call import EncodedCall

ENDPOINT_CACHE_SIZE = 4096
# A segment this long made of hex digits names one thing even without a decimal digit.
HEX_ID_CHARS = 16
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")


class Facts:
    """One invocation as the detectors see it: its calls in start order and its outcome."""

    __slots__ = ("_endpoints", "calls", "deadline_us", "duration_ms", "http_share", "phase",
                 "started_us", "status")

    def __init__(self, calls: list[EncodedCall], *, started_us: int, duration_ms: float,
                 status: str | None, http_share: float, deadline_us: int | None = None,
                 phase: str = "invoke") -> None:
        self.calls = calls
        self.started_us = started_us
        self.duration_ms = duration_ms
        self.status = status
        self.http_share = http_share
        self.deadline_us = deadline_us
        self.phase = phase
        self._endpoints: list[str] | None = None

    @property
    def endpoints(self) -> list[str]:
        """Each call's endpoint, in the order of `calls`."""
        if self._endpoints is None:
            self._endpoints = [endpoint_of(call) for call in self.calls]
        return self._endpoints


_endpoints: dict[tuple[Any, ...], str] = {}


def endpoint_of(call: EncodedCall) -> str:
    """`dynamodb GetItem orders` for an AWS call, `GET api.example.com/items/{id}` otherwise."""
    aws = call.facts.aws
    if aws is not None and aws.get("operation"):
        key: tuple[Any, ...] = (aws.get("service"), aws.get("operation"), aws.get("resource"))
    else:
        key = (call.method, call.host, call.path)
    endpoint = _endpoints.get(key)
    if endpoint is None:
        if len(_endpoints) >= ENDPOINT_CACHE_SIZE:
            _endpoints.clear()
        endpoint = _endpoints[key] = _name(key, aws is not None and bool(aws.get("operation")))
    return endpoint


def _name(key: tuple[Any, ...], is_aws: bool) -> str:
    if is_aws:
        return " ".join(str(part) for part in key if part)
    method, host, path = key
    return f"{method or '?'} {host or '?'}{normalise_path(str(path or '/'))}"


def normalise_path(path: str) -> str:
    """`/customers/c-7/orders/42` -> `/customers/{id}/orders/{id}`; `/v2/items` stays."""
    return "/".join("{id}" if _names_one(segment) else segment for segment in path.split("/"))


def _names_one(segment: str) -> bool:
    """A segment that names one thing rather than a kind of thing: it holds a digit (an id, a
    number, a UUID, a date), except an API version such as `v2`; or it is a long hex string."""
    if _DIGITS.isdisjoint(segment):
        return len(segment) >= HEX_ID_CHARS and _HEX.issuperset(segment)
    return not (len(segment) > 1 and segment[0] in "vV" and segment[1:].isdigit())
