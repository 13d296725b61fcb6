"""Findings: the endpoint a call is made to (extension process; docs/FINDINGS.md, *Endpoints*).

An AWS SDK call's endpoint is its service, operation and resource (`dynamodb GetItem orders`);
any other call's, its method, host and path with the ids, numbers, UUIDs and hashes in the
path replaced by `{id}` (`GET api.example.com/v1/customers/{id}/orders`), the query left out.
Each call's is worked out when it arrives (call_facts.py), once per distinct method, host and
path or AWS operation and resource: a function calls the same few endpoints again and again.
"""

from __future__ import annotations

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from typing import Any

CACHE_SIZE = 4096
# A segment this long made of hex digits names one thing even without a decimal digit.
HEX_ID_CHARS = 16
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_named: dict[tuple[Any, ...], str] = {}


def endpoint(method: Any, host: Any, path: Any, aws: dict[str, Any] | None) -> str:
    """`dynamodb GetItem orders` for an AWS call, `GET api.example.com/items/{id}` otherwise."""
    if aws is not None and aws.get("operation"):
        key: tuple[Any, ...] = ("aws", aws.get("service"), aws.get("operation"),
                                aws.get("resource"))
    else:
        key = (method, host, path)
    named = _named.get(key)
    if named is None:
        if len(_named) >= CACHE_SIZE:
            _named.clear()
        named = _named[key] = _name(key)
    return named


def _name(key: tuple[Any, ...]) -> str:
    if len(key) == 4:  # ("aws", service, operation, resource)
        return " ".join(str(part) for part in key[1:] if part)
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
