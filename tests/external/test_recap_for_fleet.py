"""What a recap carries for Lambda's log settings and for queries across a fleet
(docs/RECAP.md, *Level and timestamp*, *Context fields*, *Limits for Logs Insights*): no sockets."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from ext_support import T0, call, call_msg, clocked_aggregator, end_msg, invoke

from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.findings.registry import Findings
from httprecap.external.aggregate.function_context import FunctionFacts
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import Context, Outcome, build_recap
from httprecap.external.aggregate.recap_summary import HOSTS_LIMIT
from httprecap.external.ship.sink_base import Entry
from httprecap.external.ship.stdout import LINE_LIMIT
from httprecap.external.ship.trim import fit_line
from httprecap.settings import Settings

ARN = "arn:aws:lambda:eu-west-1:111122223333:function:orders-api"
FACTS = FunctionFacts(region="eu-west-1", memory_size_mb=512, architecture="arm64",
                      runtime="python3.12")
DISCOVERED_LIMIT = 200  # fields Logs Insights discovers in a JSON event


def _recap(calls: list[dict[str, Any]], status: str = "success", *,
           levels: tuple[str, str] = ("INFO", "WARN"), arn: str | None = ARN,
           tenant_id: str | None = None) -> Any:
    inv = Invocation("r1", "invoke", 0.0)
    inv.function_arn = arn
    for item in calls:
        inv.add_call(EncodedCall(item), cap=100_000)
    context = Context("orders-api", "7", {}, 0.4, findings=Findings(), facts=FACTS,
                      levels=levels, tenant_id=tenant_id)
    duration = max([100.0, *(c["startedAtUs"] - T0 + 50_000 for c in calls)]) / 1000
    return build_recap(inv, Outcome(status, T0, duration), context)


# ------------------------------------------------------------------------ level and timestamp

@pytest.mark.parametrize("status", ["error", "timeout", "failure"])
def test_a_failed_invocation_is_warn(status: str) -> None:
    assert _recap([call("r1", "a")], status)["level"] == "WARN"


def test_an_invocation_with_a_failed_call_is_warn() -> None:
    refused = {"type": "ConnectionRefusedError", "message": "refused"}
    assert _recap([call("r1", "a"), call("r1", "b", status=None, error=refused)])["level"] == \
        "WARN"
    assert _recap([call("r1", "a", status=503)])["level"] == "WARN"


def test_a_quiet_invocation_is_info() -> None:
    assert _recap([call("r1", "a"), call("r1", "b", status=304)])["level"] == "INFO"
    assert _recap([])["level"] == "INFO"


def test_the_levels_are_the_settings() -> None:
    settings = Settings.from_environ({"HTTPRECAP_RECAP_LEVEL": "debug",
                                      "HTTPRECAP_RECAP_ERROR_LEVEL": "Error"})
    levels = (settings.recap_level, settings.recap_error_level)
    assert levels == ("DEBUG", "ERROR")
    assert _recap([], levels=levels)["level"] == "DEBUG"
    assert _recap([], "error", levels=levels)["level"] == "ERROR"


def test_a_level_lambda_does_not_know_warns_and_falls_back() -> None:
    settings = Settings.from_environ({"HTTPRECAP_RECAP_LEVEL": "WARNING",
                                      "HTTPRECAP_RECAP_ERROR_LEVEL": "loud"})
    assert (settings.recap_level, settings.recap_error_level) == ("INFO", "WARN")
    assert len(settings.warnings) == 2
    assert "TRACE, DEBUG, INFO, WARN, ERROR, FATAL" in settings.warnings[0]


def test_the_timestamp_is_the_start_in_rfc_3339() -> None:
    recap = _recap([call("r1", "a")])
    assert recap["timestamp"] == recap["startedAt"]
    moment = datetime.fromisoformat(recap["timestamp"].replace("Z", "+00:00"))
    assert moment.utcoffset() is not None
    assert round(moment.timestamp() * 1_000_000) == T0


# ------------------------------------------------------------------------------- context

def test_the_context_comes_from_the_arn_and_the_environment() -> None:
    recap = _recap([call("r1", "a")], arn=ARN + ":live", tenant_id="tenant-42")
    assert {name: recap[name] for name in (
        "functionName", "functionVersion", "functionArn", "alias", "region", "accountId",
        "memorySizeMB", "architecture", "runtime", "tenantId")} == {
        "functionName": "orders-api", "functionVersion": "7", "functionArn": ARN + ":live",
        "alias": "live", "region": "eu-west-1", "accountId": "111122223333",
        "memorySizeMB": 512, "architecture": "arm64", "runtime": "python3.12",
        "tenantId": "tenant-42"}


@pytest.mark.parametrize("qualifier", ["", ":7", ":$LATEST"])
def test_no_alias_for_an_unqualified_arn_or_a_version(qualifier: str) -> None:
    recap = _recap([], arn=ARN + qualifier)
    assert recap["functionArn"] == ARN + qualifier
    assert "alias" not in recap
    assert "tenantId" not in recap  # only for functions in tenant-isolation mode


def test_without_an_arn_the_region_comes_from_the_environment() -> None:
    recap = _recap([], arn=None)
    assert recap["region"] == "eu-west-1"
    assert "functionArn" not in recap and "accountId" not in recap


def test_facts_from_the_variables_lambda_gives_extensions() -> None:
    facts = FunctionFacts.from_environ({"AWS_REGION": "ap-south-1",
                                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"})
    assert (facts.region, facts.memory_size_mb) == ("ap-south-1", 1769)
    assert facts.architecture in ("x86_64", "arm64")
    assert facts.runtime is not None and facts.runtime.startswith("python3.")


def test_the_aggregator_takes_the_arn_from_invoke_and_the_tenant_from_telemetry() -> None:
    agg, _ = clocked_aggregator()
    agg.facts = FACTS
    agg.on_invoke({"eventType": "INVOKE", "requestId": "r1", "invokedFunctionArn": ARN + ":v2"})
    agg.apply_telemetry([{"time": "2026-11-23T17:36:47.806Z", "type": "platform.start",
                          "record": {"requestId": "r1", "version": "$LATEST",
                                     "tenantId": "blue"}}])
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=1)])
    [recap] = agg.take("r1")
    assert (recap["alias"], recap["accountId"], recap["tenantId"]) == (
        "v2", "111122223333", "blue")


def test_the_tenant_holds_for_a_recap_built_before_its_own_telemetry() -> None:
    agg, _ = clocked_aggregator()
    agg.apply_telemetry([{"time": "2026-11-23T17:36:47.806Z", "type": "platform.report",
                          "record": {"requestId": "r0", "status": "success",
                                     "tenantId": "blue"}}])
    invoke(agg, "r1")
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=1)])
    [recap] = agg.take("r1")
    assert recap["tenantId"] == "blue"


def test_an_init_recap_has_the_functions_arn_without_the_alias() -> None:
    agg, _ = clocked_aggregator()
    agg.apply([call_msg("init", "i"), end_msg("init", calls=1)])
    agg.on_invoke({"eventType": "INVOKE", "requestId": "r1", "invokedFunctionArn": ARN + ":live"})
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=1)])
    init, invocation = agg.take("r1")
    assert (init["phase"], init["functionArn"], init["accountId"]) == (
        "init", ARN, "111122223333")
    assert "alias" not in init and invocation["alias"] == "live"


def test_on_managed_instances_the_arn_comes_from_platform_start() -> None:
    agg, _ = clocked_aggregator()
    agg.apply_telemetry([{"time": "2026-11-23T17:36:47.806Z", "type": "platform.start",
                          "record": {"requestId": "r1", "version": "$LATEST",
                                     "functionArn": ARN}}])
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=1)])
    [recap] = agg.take("r1")
    assert (recap["functionArn"], recap["region"]) == (ARN, "eu-west-1")


def test_without_an_invoke_arn_the_recap_still_ships() -> None:
    agg, _ = clocked_aggregator()
    invoke(agg, "r1")
    agg.apply([call_msg("r1", "a"), end_msg("r1", calls=1)])
    [recap] = agg.take("r1")
    assert "functionArn" not in recap and recap["level"] == "INFO"


# ------------------------------------------------------------ the shape Logs Insights reads

def discovered(value: Any, prefix: str = "") -> list[str]:
    """Leaf field names as Logs Insights flattens a JSON event: nested objects joined with
    dots, array elements by index (`calls.0.host`), in the order the JSON text has them."""
    if isinstance(value, dict) and value:
        return [name for key, item in value.items()
                for name in discovered(item, f"{prefix}{key}.")]
    if isinstance(value, list) and value:
        return [name for index, item in enumerate(value)
                for name in discovered(item, f"{prefix}{index}.")]
    return [prefix[:-1]]


def _many_calls(count: int, hosts: int) -> list[dict[str, Any]]:
    refused = {"type": "ConnectionRefusedError", "message": "refused"}
    calls = []
    for n in range(count):
        fields: dict[str, Any] = {"host": f"h{n % hosts}.example.com"}
        if n % 97 == 0:
            fields.update(status=None, error=refused)
        calls.append(call("r1", f"c{n:05}", n * 0.5, 2.0 + n % 11, **fields))
    return calls


FLEET_FIELDS = ("type", "level", "timestamp", "phase", "requestId", "functionName",
                "functionVersion", "functionArn", "alias", "region", "accountId",
                "memorySizeMB", "architecture", "runtime", "tenantId", "status", "startedAt",
                "durationMs", "summary.count", "summary.errors", "summary.totalHttpMs",
                "summary.httpShare", "summary.slowest.host", "summary.slowest.durationMs",
                "dropped.count", "overhead.extensionMs")


@pytest.mark.parametrize("hosts", [3, 400])
def test_a_recap_of_5000_calls_keeps_every_fleet_field_among_the_first_200(hosts: int) -> None:
    recap = _recap(_many_calls(5000, hosts), "error", arn=ARN + ":live", tenant_id="t1")
    assert len(recap.pieces) == 5000
    first = discovered(json.loads(recap.line()))[:DISCOVERED_LIMIT]
    missing = [name for name in FLEET_FIELDS if name not in first]
    assert missing == []
    kept_hosts = min(hosts, HOSTS_LIMIT)
    for index in range(kept_hosts):
        assert {f"summary.hosts.{index}.{name}" for name in (
            "host", "count", "errors", "totalMs", "maxMs")} <= set(first)
    assert [name for name in first if name.startswith("summary.findings.")] != []
    tail = next(index for index, name in enumerate(first)
                if name.startswith(("findings.", "calls.")))
    assert all(name.startswith(("findings.", "calls.")) for name in first[tail:])


def test_the_per_host_summary_is_bounded_and_the_rest_summed() -> None:
    calls = _many_calls(600, 30)
    recap = _recap(calls)
    summary = recap["summary"]
    assert len(summary["hosts"]) == HOSTS_LIMIT
    others = summary["otherHosts"]
    assert others["hosts"] == 30 - HOSTS_LIMIT
    assert others["count"] + sum(entry["count"] for entry in summary["hosts"]) == 600
    assert others["errors"] + sum(entry["errors"] for entry in summary["hosts"]) == \
        summary["errors"]
    kept = min(entry["totalMs"] for entry in summary["hosts"])
    assert others["maxMs"] <= max(entry["maxMs"] for entry in summary["hosts"])
    assert kept >= round(others["totalMs"] / others["hosts"], 3)


def test_few_hosts_have_no_other_hosts() -> None:
    assert "otherHosts" not in _recap(_many_calls(50, HOSTS_LIMIT))["summary"]


def test_the_unbounded_lists_come_last_in_the_line() -> None:
    recap = _recap([call("r1", f"g{n}", n * 10.0) for n in range(6)])
    line = json.loads(recap.line())
    assert list(line)[-2:] == ["findings", "calls"]
    assert list(line)[:4] == ["type", "version", "level", "timestamp"]
    assert list(line) == list(recap)


def test_a_recap_cut_to_its_identity_keeps_its_level_and_timestamp() -> None:
    recap = _recap([call("r1", "a", status=500)])
    recap.fields["hint"] = "x" * 300_000  # only the identity can fit in a CloudWatch event
    line = json.loads(fit_line(Entry(recap), LINE_LIMIT))
    assert line["truncated"]["fields"] is True
    assert (line["level"], line["timestamp"]) == ("WARN", recap["startedAt"])
