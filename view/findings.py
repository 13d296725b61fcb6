"""View: reads recaps' findings and groups them across invocations (dev-time CLI and HTML report).

A finding (docs/FINDINGS.md) says what some calls of one invocation mean: its `kind`,
`severity` (`warning` or `info`), a `message` for people, and the `callIds` it is about (empty
for a finding about the whole invocation). Across invocations the same finding comes back
with other ids and numbers in its paths, so findings are grouped by kind and endpoint: an AWS
call's service, operation and resource, or else its method, host and path with the ids,
numbers and UUIDs in the path replaced by `{id}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# What an endpoint is, the extension's own rule (docs/FINDINGS.md, Endpoints): the viewer
# groups findings by the endpoints the extension found them on.
from httprecap.external.aggregate.findings.endpoints import normalise_path
from httprecap.view.read import Call, Recap, calls_of, host_label

Finding = dict[str, Any]

SEVERITY_ORDER = {"warning": 0, "info": 1}


def findings_of(recap: Recap) -> list[Finding]:
    """The recap's findings, in the order the extension listed them (none when absent)."""
    findings = recap.get("findings")
    if not isinstance(findings, list):
        return []
    return [finding for finding in findings if isinstance(finding, dict)]


def call_ids_of(finding: Finding) -> list[str]:
    ids = finding.get("callIds")
    return [str(call_id) for call_id in ids] if isinstance(ids, list) else []


def call_numbers(finding: Finding, calls: Sequence[Call]) -> tuple[list[int], int]:
    """The 1-based numbers of the finding's calls in `calls` (as a table numbers them), and
    how many of its calls are not there (filtered out, or cut from a truncated recap)."""
    numbers = {str(call.get("id")): number for number, call in enumerate(calls, 1)}
    ids = call_ids_of(finding)
    shown = sorted(numbers[call_id] for call_id in ids if call_id in numbers)
    return shown, len(ids) - len(shown)


def format_numbers(numbers: Sequence[int]) -> str:
    """`[1, 2, 3, 5, 7, 8]` -> `1-3, 5, 7, 8`: runs of three or more calls as ranges."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run))
                     for run in runs)


def endpoint_of_call(call: Call) -> str:
    """`dynamodb GetItem orders` for an AWS call, `GET api.example.com/items/{id}` otherwise."""
    aws = call.get("aws")
    if isinstance(aws, dict) and aws.get("operation"):
        parts = (aws.get("service"), aws.get("operation"), aws.get("resource"))
        return " ".join(str(part) for part in parts if part)
    path = normalise_path(str(call.get("path") or "/"))
    return f"{call.get('method') or '?'} {host_label(call)}{path}"


def endpoint_of(finding: Finding, calls: Sequence[Call]) -> str:
    """Where the finding is: its own `endpoint` (or `host`) when its kind names one, else the
    endpoints of its calls in call order, or `(invocation)` when it has none."""
    for field_name in ("endpoint", "host"):
        if isinstance(finding.get(field_name), str):
            return str(finding[field_name])
    wanted = set(call_ids_of(finding))
    endpoints = dict.fromkeys(endpoint_of_call(call) for call in calls
                              if str(call.get("id")) in wanted)
    return ", ".join(endpoints) if endpoints else "(invocation)"


@dataclass(frozen=True)
class FindingGroup:
    """One kind of finding at one endpoint, across the invocations read."""

    kind: str
    severity: str
    endpoint: str
    invocations: int
    calls: int
    example: str


@dataclass(frozen=True)
class FindingsOverview:
    """The findings of the invocations read, grouped; and how many recaps carried none."""

    invocations: int
    with_findings: int
    without_field: int
    findings: int
    groups: list[FindingGroup]


def summarize_findings(recaps: Sequence[Recap]) -> FindingsOverview:
    groups = group_findings(recaps)
    return FindingsOverview(
        invocations=len(recaps),
        with_findings=sum(bool(findings_of(recap)) for recap in recaps),
        without_field=sum(not isinstance(recap.get("findings"), list) for recap in recaps),
        findings=sum(len(findings_of(recap)) for recap in recaps),
        groups=groups)


def group_findings(recaps: Iterable[Recap]) -> list[FindingGroup]:
    """Groups by (kind, endpoint): warnings first, then the most widespread."""
    seen: dict[tuple[str, str], list[tuple[Finding, str]]] = {}
    for recap in recaps:
        calls = calls_of(recap)
        for finding in findings_of(recap):
            key = (str(finding.get("kind") or "?"), endpoint_of(finding, calls))
            seen.setdefault(key, []).append((finding, str(recap.get("requestId"))))
    groups = [_group(kind, endpoint, members) for (kind, endpoint), members in seen.items()]
    return sorted(groups, key=lambda group: (SEVERITY_ORDER.get(group.severity, 2),
                                             -group.invocations, -group.calls, group.kind,
                                             group.endpoint))


def _group(kind: str, endpoint: str, members: list[tuple[Finding, str]]) -> FindingGroup:
    severities = [str(finding.get("severity") or "info") for finding, _ in members]
    return FindingGroup(
        kind=kind,
        severity=min(severities, key=lambda severity: SEVERITY_ORDER.get(severity, 2)),
        endpoint=endpoint,
        invocations=len({request_id for _, request_id in members}),
        calls=sum(len(call_ids_of(finding)) for finding, _ in members),
        example=str(members[0][0].get("message") or ""))
