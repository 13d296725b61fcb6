"""Findings: what the detectors read about one call, taken from its wire message when it
arrives (extension process).

The collector's thread encodes each call as it arrives (encoded_call.py), while the function
still runs, and keeps only its JSON and a few values; these are the values the detectors need
besides, read after the response.
"""

from __future__ import annotations

from httprecap.external.aggregate.findings.endpoints import endpoint

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_AWS_ERROR = "An error occurred ("
# Calls whose answer the next call needs (credentials): sequential-calls ends a run there.
CREDENTIAL_HOSTS = frozenset(("169.254.169.254", "169.254.170.2", "fd00:ec2::254"))
CREDENTIAL_SERVICES = frozenset(("sts", "sso", "cognito-identity"))


class CallFacts:
    """The fields of a wire call the recap's encoded form does not keep as values.

    The calls of one shape that ended with the same status share theirs (`ShapeParts.facts`):
    a detector that reads only these reads them once per group (`Facts.shared`)."""

    __slots__ = ("apart", "attempts", "aws", "connect_ms", "connection", "endpoint",
                 "error_code", "error_type", "host", "in_flight", "method", "pool", "status",
                 "timeout_known", "timeout_s", "url")

    def __init__(self, call: Mapping[str, Any], in_flight: bool = False) -> None:
        get = call.get
        self.method: Any = get("method")
        self.host = str(get("host"))
        self.url: str = get("url") or ""
        self.status: int | None = get("status")
        error = get("error")
        self.error_type: str | None = None
        self.error_code: str | None = None
        if type(error) is dict:
            self.error_type = str(error.get("type"))
            self.error_code = _aws_code(error.get("message"))
        aws = get("aws")
        self.aws: dict[str, Any] | None = aws if type(aws) is dict else None
        attempts = get("attempts")
        self.attempts: list[Any] = attempts if type(attempts) is list else []
        self.in_flight = in_flight
        self.endpoint = endpoint(get("method"), get("host"), get("path"), self.aws)
        # Part of no run of independent calls: cut short, or fetching credentials.
        self.apart = in_flight or (get("host") in CREDENTIAL_HOSTS if self.aws is None
                                   else self.aws.get("service") in CREDENTIAL_SERVICES)
        # Recorded where the client exposes them (docs/FINDINGS.md, no-timeout, new-connection).
        self.timeout_known = "timeoutS" in call
        self.timeout_s = _number(get("timeoutS"))
        # Where a connection could have been reused: a client keeps connections per host and
        # port, and an AWS SDK client is one service's (two clients never share one).
        self.pool = f"{get('host')}:{get('port')}" if self.aws is None else \
            f"{self.aws.get('service')} {get('host')}:{get('port')}"
        connection = get("connection")
        self.connection: str | None = connection if connection in ("new", "reused") else None
        self.connect_ms = (_number(get("connectMs")) or 0.0) + (_number(get("tlsMs")) or 0.0)


def _aws_code(message: Any) -> str | None:
    """The AWS error code in botocore's message for an error its service does not model
    (raised as `ClientError`): "An error occurred (ThrottlingException) when calling ..."."""
    if type(message) is str and message.startswith(_AWS_ERROR):
        code, closed, _ = message[len(_AWS_ERROR):].partition(")")
        return code if closed else None
    return None


def _number(value: Any) -> float | None:
    """A finite number from the wire (where a newer sender's fields are not checked), or None."""
    kind = type(value)
    if (kind is int or kind is float) and value - value == 0:  # (bool is neither; NaN fails)
        return float(value)
    return None
