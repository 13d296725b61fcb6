"""View: narrows recaps to the calls a reader asked for (dev-time CLI).

Call filters (`--errors`, `--slower-than`, `--host`) keep the calls that pass all of them; an
invocation stays when some call passed — or, with `--errors`, when the invocation itself failed
(a timeout can have no failing call). The kept recap is a copy with `calls` narrowed and every
other field, `summary` included, as the extension wrote it: the header still describes the
whole invocation. Its `findings` are narrowed with its calls: a finding stays when one of its
calls did, or when it is about the whole invocation (no calls).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from httprecap.view.findings import Finding, call_ids_of, findings_of
from httprecap.view.read import Call, Recap, calls_of, duration_of, host_label, is_failed


@dataclass(frozen=True)
class Selection:
    """What the reader asked for; the defaults keep everything."""

    errors: bool = False
    slower_than_ms: float | None = None
    host: str | None = None
    request_id: str | None = None

    @property
    def narrows_calls(self) -> bool:
        return self.errors or self.slower_than_ms is not None or self.host is not None


def select(recaps: Iterable[Recap], selection: Selection) -> list[Recap]:
    kept = []
    for recap in recaps:
        narrowed = select_recap(recap, selection)
        if narrowed is not None:
            kept.append(narrowed)
    return kept


def select_recap(recap: Recap, selection: Selection) -> Recap | None:
    """`recap` with only the selected calls, or None when nothing of it is selected."""
    if selection.request_id and recap.get("requestId") != selection.request_id:
        return None
    if not selection.narrows_calls:
        return recap
    calls = [call for call in calls_of(recap) if call_matches(call, selection)]
    invocation_failed = recap.get("status") not in (None, "success")
    if not calls and not (selection.errors and invocation_failed and selection.host is None):
        return None
    narrowed: Recap = {**recap, "calls": calls}
    if "findings" in recap:
        narrowed["findings"] = findings_about(recap, calls)
    return narrowed


def findings_about(recap: Recap, calls: list[Call]) -> list[Finding]:
    """The recap's findings that concern one of `calls`, or the whole invocation."""
    kept = {str(call.get("id")) for call in calls}
    return [finding for finding in findings_of(recap)
            if not call_ids_of(finding) or kept.intersection(call_ids_of(finding))]


def call_matches(call: Call, selection: Selection) -> bool:
    if selection.errors and not is_failed(call):
        return False
    if selection.slower_than_ms is not None and duration_of(call) <= selection.slower_than_ms:
        return False
    if selection.host is None:
        return True
    return any(host_matches(name, selection.host)
               for name in (str(call.get("host", "")), host_label(call)))


def host_matches(host: str, wanted: str) -> bool:
    """Exact (case-insensitive), a glob (`*.amazonaws.com`), or a parent domain (`example.com`
    matches `api.example.com`); `host:port` matches one service of a host."""
    host, wanted = host.lower(), wanted.lower()
    if any(char in wanted for char in "*?["):
        return fnmatch.fnmatchcase(host, wanted)
    return host == wanted or host.endswith("." + wanted)
