"""End to end: the built wrapper loads the internal extension in the runtime only, and
every call of three consecutive invocations lands in its own invocation's recap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from e2e_support import layer_env, processes_under, recaps_in, sandbox_for

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import InvokeResult, Sandbox

pytestmark = pytest.mark.e2e

INVOCATIONS = 3


@pytest.fixture(scope="module")
def bucket(moto: MotoServer) -> str:
    client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")
    client.create_bucket(Bucket="httprecap-e2e")
    return "httprecap-e2e"


@pytest.fixture(scope="module")
def run(layer_zip: Path, upstream: UpstreamServer, moto: MotoServer, bucket: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sink = tmp_path_factory.mktemp("recaps") / "recaps.jsonl"
    env = layer_env(UPSTREAM_URL=upstream.url, BUCKET=bucket, HTTPRECAP_SINKS=f"file://{sink}",
                    **moto.environment())
    with sandbox_for("capture", layer_zip, env, timeout_s=20) as sandbox:
        results: list[InvokeResult] = []
        recap_counts: list[int] = []
        processes: dict[int, str] = {}
        for n in range(INVOCATIONS):
            results.append(sandbox.invoke({"n": n}))
            recap_counts.append(len(recaps_in(sink)))
            processes = processes or processes_under(sandbox.opt_dir)
        environs = {pid: _environ(pid) for pid in processes}
        yield {"results": results, "recaps": recaps_in(sink), "counts": recap_counts,
               "processes": processes, "environs": environs, "sandbox": sandbox}


def _environ(pid: int) -> list[bytes]:
    """The environment `pid` was started with."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _invoke_recaps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["requestId"]: r for r in run["recaps"] if r["phase"] == "invoke"}


def _signature(call: dict[str, Any]) -> tuple[str, str, str]:
    if call.get("aws"):
        return (call["library"], call["aws"]["service"], call["aws"]["operation"])
    query = parse_qs(urlsplit(call["url"]).query)
    return (call["library"], call["path"], query.get("via", ["?"])[0])


def test_every_invocation_succeeds(run: dict[str, Any]) -> None:
    for result in run["results"]:
        assert result.ok, result.payload


def test_each_recap_holds_exactly_its_invocations_calls(run: dict[str, Any]) -> None:
    recaps = _invoke_recaps(run)
    for n, result in enumerate(run["results"]):
        recap = recaps[result.request_id]
        signatures = sorted(_signature(call) for call in recap["calls"])
        assert signatures == sorted([
            ("requests", "/fast", "requests"),
            ("urllib3", "/redirect", "urllib3"),
            ("http.client", "/fast", "urllib"),
            ("botocore", "s3", "PutObject"),
            ("botocore", "s3", "GetObject"),
            ("requests", "/slow", "pool"), ("requests", "/slow", "pool"),
            ("requests", "/slow", "pool"),
        ])
        upstream_calls = [call for call in recap["calls"] if not call.get("aws")]
        assert all(f"inv={n}" in call["url"] for call in upstream_calls)
        assert recap["summary"]["count"] == 8
        assert recap["status"] == "success"


def test_thread_pool_calls_are_attributed_to_the_invocation(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run).values():
        pooled = [call for call in recap["calls"] if "via=pool" in call["url"]]
        assert len(pooled) == 3
        assert all(call["thread"].startswith("ThreadPoolExecutor") for call in pooled)


def test_redirect_hops_are_attempts_of_one_call(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run).values():
        (redirect,) = [call for call in recap["calls"] if call["path"] == "/redirect"]
        assert [attempt["status"] for attempt in redirect["attempts"]] == [302, 200]
        assert redirect["status"] == 200


def test_aws_calls_name_service_operation_and_region(run: dict[str, Any]) -> None:
    for recap in _invoke_recaps(run).values():
        aws = [call["aws"] for call in recap["calls"] if call.get("aws")]
        assert {(a["service"], a["operation"], a["region"]) for a in aws} == {
            ("s3", "PutObject", "us-east-1"), ("s3", "GetObject", "us-east-1")}


def test_module_level_call_lands_in_the_init_recap(run: dict[str, Any]) -> None:
    (init,) = [r for r in run["recaps"] if r["phase"] == "init"]
    assert [call["path"] for call in init["calls"]] == ["/fast"]
    assert "phase=init" in init["calls"][0]["url"]


def test_recap_exists_before_the_next_invocation_starts(run: dict[str, Any]) -> None:
    invoke_recaps_after_each = [count - 1 for count in run["counts"]]  # minus the init recap
    assert invoke_recaps_after_each == list(range(1, INVOCATIONS + 1))


def test_python_subprocess_does_not_load_httprecap(run: dict[str, Any]) -> None:
    for result in run["results"]:
        payload = json.loads(result.payload)
        assert payload["loadedHere"] is True
        assert payload["childLoadedHttprecap"] == "False"


def test_only_the_runtime_process_loads_the_internal_extension(run: dict[str, Any]) -> None:
    by_role = {"runtime": [], "extension": []}  # type: dict[str, list[int]]
    for pid, cmdline in run["processes"].items():
        if "bootstrap.py" in cmdline:
            by_role["runtime"].append(pid)
        elif "extensions/httprecap" in cmdline or "httprecap.external" in cmdline:
            by_role["extension"].append(pid)
    assert by_role["runtime"] and by_role["extension"], run["processes"]
    # What each was started with: the wrapper puts the layer's bootstrap and library first on
    # the runtime's PYTHONPATH; the extension's launcher clears it. (That the runtime did load
    # the internal extension, its function says: test_python_subprocess_does_not_load_httprecap.)
    ours = f"PYTHONPATH={run['sandbox'].opt_dir}/httprecap/boot:".encode()
    for pid in by_role["runtime"]:
        assert any(item.startswith(ours) for item in run["environs"][pid]), run["environs"][pid]
    for pid in by_role["extension"]:
        assert not any(item.startswith(b"PYTHONPATH=") for item in run["environs"][pid])


def test_no_sandbox_process_outlives_the_sandbox(run: dict[str, Any]) -> None:
    sandbox: Sandbox = run["sandbox"]
    opt = sandbox.opt_dir
    sandbox.shutdown()
    assert processes_under(opt) == {}
