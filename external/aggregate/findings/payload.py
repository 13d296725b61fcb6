"""Findings: `large-payload` (extension process; docs/FINDINGS.md): request or response bodies
over a size threshold, one finding per endpoint and direction.
"""

from __future__ import annotations

from httprecap.external.aggregate.findings.finding import INFO, finding

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from httprecap.external.aggregate.encoded_call import EncodedCall
    from httprecap.external.aggregate.findings.facts import Facts
    from httprecap.external.aggregate.findings.finding import Finding, Thresholds
    from httprecap.external.aggregate.findings.history import History


def large_payloads(facts: Facts, limits: Thresholds, history: History) -> list[Finding]:
    least = limits.large_bytes
    extent = facts.extent
    if extent.most_sent < least and extent.most_received < least:
        return []
    large: dict[tuple[str, str], list[tuple[EncodedCall, int]]] = {}
    for call, endpoint in zip(facts.calls, facts.endpoints, strict=True):
        if call.bytes_sent >= least:
            large.setdefault((endpoint, "request"), []).append((call, call.bytes_sent))
        if call.bytes_received >= least:
            large.setdefault((endpoint, "response"), []).append((call, call.bytes_received))
    return [_large(endpoint, direction, sized)
            for (endpoint, direction), sized in large.items()]


def _large(endpoint: str, direction: str, sized: list[tuple[EncodedCall, int]]) -> Finding:
    largest = max(size for _, size in sized)
    preposition = "to" if direction == "request" else "from"
    what = f"a {largest:,}-byte {direction}" if len(sized) == 1 else \
        f"{len(sized):,} {direction}s of up to {largest:,} bytes"
    return finding("large-payload", INFO, f"{what} {preposition} {endpoint}",
                   [call for call, _ in sized], endpoint=endpoint, direction=direction,
                   count=len(sized), bytes=largest)
