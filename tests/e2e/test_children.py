"""Calls made by the processes a handler starts belong to its invocation: an os.fork child, a
multiprocessing.Process, Pool workers (closed, or terminated once their tasks returned) and,
with HTTPRECAP_CAPTURE_SUBPROCESSES=1, a forkserver's child and a Python subprocess; through
the built layer, with the real awslambdaric, over several invocations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_support import layer_env, recaps_in, sandbox_for

from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

INVOCATIONS = 3
# Per invocation: where each call comes from, and how many.
EXPECTED = Counter({"handler": 1, "fork": 1, "process": 1, "forkserver": 1, "pool": 3,
                    "terminate": 2, "subprocess": 1})


def _origins(recap: dict[str, Any]) -> Counter[tuple[str, str]]:
    """(invocation number, process kind) of each of the recap's calls."""
    found: Counter[tuple[str, str]] = Counter()
    for call in recap["calls"]:
        query = parse_qs(urlsplit(call["url"]).query)
        found[(query["inv"][0], query["via"][0])] += 1
    return found


def test_calls_from_started_processes_are_in_their_invocations_recap(
        layer_zip: Path, upstream: UpstreamServer, tmp_path: Path) -> None:
    sink = tmp_path / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}",
                    HTTPRECAP_CAPTURE_SUBPROCESSES="1")
    with sandbox_for("children", layer_zip, env, timeout_s=15, memory_mb=1024) as sandbox:
        results = [sandbox.invoke({"n": n}) for n in range(INVOCATIONS)]
        recaps = recaps_in(sink)
    assert all(result.ok for result in results), [result.payload for result in results]
    by_id = {recap["requestId"]: recap for recap in recaps}
    assert [recap["phase"] for recap in recaps] == ["invoke"] * INVOCATIONS  # none in init
    for n, result in enumerate(results):
        recap = by_id[result.request_id]
        expected = Counter({(str(n), via): count for via, count in EXPECTED.items()})
        assert _origins(recap) == expected, f"invocation {n}"
        assert recap["dropped"] == {"count": 0, "reasons": {}}, f"invocation {n}"
        assert all(call["status"] == 200 for call in recap["calls"])
