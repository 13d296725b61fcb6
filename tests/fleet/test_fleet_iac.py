"""The examples' fleet resources (SAM, CDK, Terraform) are rendered from fleet/insights_queries.py
and agree with it, and their alarms and dashboard watch metrics the emf sink emits."""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import hcl2
import pytest
from cfnlint.decode import decode
from fleet_corpus import mixed_calls, recap_line

from httprecap.external.aggregate.encode import EncodedRecap
from httprecap.external.ship.emf import EmfSink
from httprecap.external.ship.sink_base import Entry
from httprecap.fleet import insights_iac as fleet_iac
from httprecap.fleet.insights_queries import QUERIES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/orders"
TERRAFORM = EXAMPLE / "terraform"


def test_the_generated_files_are_up_to_date() -> None:
    assert fleet_iac.stale(ROOT) == [], "run: python -m httprecap.fleet.insights_iac"


def test_check_mode_names_a_stale_file(tmp_path: Path) -> None:
    for path in (fleet_iac.SAM_TEMPLATE, fleet_iac.CDK_SPEC, fleet_iac.TERRAFORM):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text())
    assert fleet_iac.main(["--root", str(tmp_path), "--check"]) == 0
    spec = tmp_path / fleet_iac.CDK_SPEC
    spec.write_text(spec.read_text().replace("host-latency", "host-latencies"))
    assert fleet_iac.main(["--root", str(tmp_path), "--check"]) == 1
    assert fleet_iac.main(["--root", str(tmp_path)]) == 0 and not fleet_iac.stale(tmp_path)


def _sam() -> dict[str, Any]:
    template, _ = decode(str(EXAMPLE / "template.yaml"))
    return dict(template["Resources"])


def test_sam_saves_every_query_for_the_functions_log_group() -> None:
    saved = {r["Properties"]["Name"]: r["Properties"] for r in _sam().values()
             if r["Type"] == "AWS::Logs::QueryDefinition"}
    assert {name: p["QueryString"] for name, p in saved.items()} == {
        f"httprecap/{q.name}": q.body + "\n" for q in QUERIES}
    assert all(p["LogGroupNames"] == [{"Ref": "OrdersLogGroup"}] for p in saved.values())


def _terraform() -> dict[str, dict[str, Any]]:
    """Every resource of the Terraform example, by `type.name`, quotes as python-hcl2 keeps."""
    resources: dict[str, dict[str, Any]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("resource", []):
                for kind, named in block.items():
                    for name, body in named.items():
                        resources[f"{kind.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return resources


def test_terraform_saves_every_query() -> None:
    saved = {body["name"].strip('"'): body for key, body in _terraform().items()
             if key.startswith("aws_cloudwatch_query_definition.")}
    assert set(saved) == {f"httprecap/{q.name}" for q in QUERIES}
    for query in QUERIES:
        heredoc = saved[f"httprecap/{query.name}"]["query_string"]
        text = heredoc.strip('"').removeprefix("<<-EOT\n").rsplit("\n", 1)[0]
        assert textwrap.dedent(text) == query.body


def test_terraform_references_resolve_across_the_files() -> None:
    """What `terraform validate` would check first: every resource, variable and local that a
    file names is declared in one of them (validate itself cannot run here)."""
    declared = set(_terraform())
    variables, locals_ = set(), set()
    text = ""
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        variables |= {name.strip('"') for block in parsed.get("variable", []) for name in block}
        locals_ |= {name for block in parsed.get("locals", []) for name in block}
        data = {f"data.{kind.strip(chr(34))}.{name.strip(chr(34))}"
                for block in parsed.get("data", []) for kind, named in block.items()
                for name in named}
        declared |= data
        text += path.read_text()
    named = set(re.findall(r"(?<!data\.)\b(aws_[a-z0-9_]+\.[a-z0-9_]+)\.", text))
    named |= set(re.findall(r"\b(data\.[a-z0-9_]+\.[a-z0-9_]+)\.", text))
    assert named - declared == set()
    assert set(re.findall(r"\bvar\.([a-z0-9_]+)", text)) - variables == set()
    assert set(re.findall(r"\blocal\.([a-z0-9_]+)", text)) - locals_ == set()


def test_cdk_stack_reads_the_generated_spec() -> None:
    sys.path.insert(0, str(EXAMPLE / "cdk"))
    try:
        import fleet_spec
    finally:
        sys.path.remove(str(EXAMPLE / "cdk"))
    assert tuple((f"httprecap/{q.name}", q.body) for q in QUERIES) == fleet_spec.QUERIES
    tree = ast.parse((EXAMPLE / "cdk/orders_stack.py").read_text())
    used = {f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
    assert {"fleet_spec.QUERIES", "fleet_spec.DASHBOARD_BODY", "logs.CfnQueryDefinition",
            "cloudwatch.CfnDashboard"} <= used


def _emitted() -> set[tuple[str, tuple[str, ...]]]:
    """(metric, dimension names) of what the emf sink writes for a recap with AWS calls."""
    recap = EncodedRecap.from_dict(json.loads(recap_line("r1", mixed_calls("r1", 30))))
    stream = io.BytesIO()
    EmfSink(stream).send([Entry(recap)])
    found = set()
    for line in stream.getvalue().splitlines():
        directive = json.loads(line)["_aws"]["CloudWatchMetrics"][0]
        for metric in directive["Metrics"]:
            found.add((metric["Name"], tuple(directive["Dimensions"][0])))
    return found


def test_sam_alarms_watch_metrics_the_emf_sink_emits() -> None:
    emitted = _emitted()
    alarms = [r["Properties"] for r in _sam().values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = [(a["MetricName"], tuple(d["Name"] for d in a["Dimensions"])) for a in alarms
               if "MetricName" in a]
    watched += [(m["MetricStat"]["Metric"]["MetricName"],
                 tuple(d["Name"] for d in m["MetricStat"]["Metric"]["Dimensions"]))
                for a in alarms for m in a.get("Metrics", []) if "MetricStat" in m]
    assert len(alarms) == 2 and watched
    assert set(watched) <= emitted
    assert all(a.get("Namespace", "httprecap") == "httprecap" for a in alarms)


def test_the_dashboard_searches_metrics_the_emf_sink_emits() -> None:
    emitted = _emitted()
    body = json.loads(fleet_iac.dashboard_body())
    searches = re.findall(r"\{httprecap,([A-Za-z,]+)\} MetricName=\\?\"(\w+)\\?\"",
                          json.dumps(body))
    assert searches
    assert {(metric, tuple(dims.split(","))) for dims, metric in searches} <= emitted


@pytest.mark.parametrize("text", [fleet_iac.dashboard_body()])
def test_the_dashboard_log_widget_runs_the_host_latency_query(text: str) -> None:
    [widget] = [w for w in json.loads(text)["widgets"] if w["type"] == "log"]
    assert widget["properties"]["query"] == (
        "SOURCE '${LogGroupName}' | " + " ".join(QUERIES[0].body.split()))


def test_cdk_stack_synthesizes_with_the_fleet_resources(tmp_path: Path) -> None:
    """Only where aws-cdk-lib is installed (it is not in the dev extra: 460 MB with jsii)."""
    app_module = pytest.importorskip("aws_cdk")
    sys.path.insert(0, str(EXAMPLE / "cdk"))
    try:
        from orders_stack import OrdersStack
    finally:
        sys.path.remove(str(EXAMPLE / "cdk"))
    layer = tmp_path / "layer"  # any directory stands for the zip
    (layer / "python").mkdir(parents=True)
    app = app_module.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))
    OrdersStack(app, "OrdersApi", layer_zip=str(layer),
                api_url="https://api.example.com")
    template = app.synth().get_stack_by_name("OrdersApi").template
    kinds = [r["Type"] for r in template["Resources"].values()]
    assert kinds.count("AWS::Logs::QueryDefinition") == len(QUERIES)
    assert kinds.count("AWS::CloudWatch::Alarm") == 2 and "AWS::CloudWatch::Dashboard" in kinds
