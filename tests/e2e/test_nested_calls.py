"""What is a call, end to end: a call made inside another is a call of its own, and one
answered without reaching the network leaves no trace (no call, no in-flight entry), through
the built layer in the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import layer_env, recaps_in, sandbox_for

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def recaps(layer_zip: Path, upstream: UpstreamServer, moto: MotoServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The invoke recap of each mode of the `nested` function."""
    sink = tmp_path_factory.mktemp("recaps") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, HTTPRECAP_SINKS=f"file://{sink}",
                    **moto.environment())
    with sandbox_for("nested", layer_zip, env, timeout_s=20) as sandbox:
        ids = {mode: sandbox.invoke({"mode": mode}) for mode in ("assume", "hooked", "mocked")}
        shipped = {recap["requestId"]: recap for recap in recaps_in(sink)}
    for mode, result in ids.items():
        assert result.ok, (mode, result)
    yield {mode: shipped[result.request_id] for mode, result in ids.items()}


def _last_is_plain(calls: list[dict[str, Any]]) -> None:
    assert calls[-1]["path"] == "/fast" and calls[-1]["url"].endswith("via=last")


def test_a_role_assumed_inside_an_s3_call_is_two_calls(recaps: dict[str, Any]) -> None:
    s3, sts, last = recaps["assume"]["calls"]  # in start order: STS runs inside S3
    assert (sts["aws"]["service"], sts["aws"]["operation"], sts["method"]) == \
        ("sts", "AssumeRole", "POST")
    assert (s3["aws"]["service"], s3["aws"]["operation"], s3["method"]) == \
        ("s3", "ListBuckets", "GET")
    assert (sts["status"], s3["status"], s3["bytesSent"]) == (200, 200, 0)
    assert sts["attempts"] == [] and s3["attempts"] == []
    _last_is_plain([last])


def test_a_call_made_in_a_response_hook_is_a_call_of_its_own(recaps: dict[str, Any]) -> None:
    outer, hooked, last = recaps["hooked"]["calls"]  # in start order
    assert outer["url"].endswith("via=outer") and hooked["url"].endswith("via=hook")
    assert outer["attempts"] == [] and outer["status"] == 200
    _last_is_plain([last])


def test_calls_answered_in_process_leave_no_trace(recaps: dict[str, Any]) -> None:
    recap = recaps["mocked"]
    assert recap["status"] == "success"
    (last,) = recap["calls"]
    _last_is_plain([last])
    assert "inFlight" not in last
