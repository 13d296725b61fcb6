"""The orders example's durable path (SAM and Terraform): the Glue table and the Athena queries
are the ones httprecap.fleet.athena defines, the stream delivers where the table reads, and the
function ships to the stream. (cfn-lint runs over the whole template in test_examples.py.)"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from httprecap.fleet import athena
from httprecap.fleet import athena_iac as athena_examples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/orders"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    template, _ = decode(str(EXAMPLE / "template.yaml"))
    found: dict[str, Any] = template["Resources"]
    return found


def _terraform(name: str) -> str:
    return (EXAMPLE / "terraform" / name).read_text()


def test_the_generated_parts_are_those_of_httprecap_fleet_athena(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = athena_examples.main(["--check"])
    assert code == 0, capsys.readouterr().out


def test_the_sam_section_is_rendered_between_its_markers_only() -> None:
    template = f"a\n{athena_examples.SAM_BEGIN}  Stale: x\n{athena_examples.SAM_END}b\n"
    rendered = athena_examples.with_sam_section(template)
    assert rendered == f"a\n{athena_examples.render_sam()}b\n"
    assert athena_examples.with_sam_section(rendered) == rendered
    with pytest.raises(ValueError, match="markers are missing"):
        athena_examples.with_sam_section("Resources: {}\n")


def test_every_query_is_a_named_query_in_both(resources: dict[str, Any]) -> None:
    named = {r["Properties"]["Name"]: r["Properties"] for r in resources.values()
             if r["Type"] == "AWS::Athena::NamedQuery"}
    assert {name: query["QueryString"] for name, query in named.items()} == {
        query.full_name: query.sql for query in athena.QUERIES}
    assert {query["WorkGroup"]["Ref"] for query in named.values()} == {"RecapsWorkGroup"}
    hcl2 = pytest.importorskip("hcl2")
    parsed = hcl2.loads(_terraform("recaps_athena.tf"))
    queries = [body for resource in parsed["resource"]
               for kind, named in resource.items() if kind == '"aws_athena_named_query"'
               for body in named.values()]
    assert [(query["name"].strip('"'), _heredoc(query["query"])) for query in queries] == [
        (query.full_name, query.sql) for query in athena.QUERIES]


def _heredoc(text: str) -> str:
    """An indented heredoc (`<<-SQL`) as Terraform reads it: its common indent removed."""
    body = text.strip('"').removeprefix("<<-SQL\n").rstrip()
    return textwrap.dedent(body.removesuffix("SQL"))


def test_the_stream_delivers_where_the_table_reads(resources: dict[str, Any]) -> None:
    destination = resources["RecapsDeliveryStream"]["Properties"][
        "ExtendedS3DestinationConfiguration"]
    assert destination["Prefix"] == athena.FIREHOSE_PREFIX
    assert destination["ErrorOutputPrefix"] == athena.FIREHOSE_ERROR_PREFIX
    assert destination["BucketARN"] == {"Fn::GetAtt": ["RecapsBucket", "Arn"]}
    table = resources["RecapsTable"]["Properties"]["TableInput"]
    assert table["StorageDescriptor"]["Location"] == {
        "Fn::Sub": f"s3://${{RecapsBucket}}/{athena.DATA_PREFIX}"}
    assert athena.FIREHOSE_PREFIX.startswith(athena.DATA_PREFIX)
    assert not athena.FIREHOSE_ERROR_PREFIX.startswith(athena.DATA_PREFIX)
    delivery = _terraform("recaps_delivery.tf")
    assert f'prefix              = "{athena.FIREHOSE_PREFIX}"' in delivery
    assert f'error_output_prefix = "{athena.FIREHOSE_ERROR_PREFIX}"' in delivery


def test_the_function_ships_its_recaps_to_the_stream(resources: dict[str, Any]) -> None:
    function = resources["OrdersFunction"]["Properties"]
    sinks = function["Environment"]["Variables"]["HTTPRECAP_SINKS"]["Fn::Sub"]
    assert "firehose://${RecapsDeliveryStream}" in sinks.split(",")
    statements = [statement for policy in function["Policies"] if "Statement" in policy
                  for statement in policy["Statement"]]
    assert {"Effect": "Allow", "Action": "firehose:PutRecordBatch",
            "Resource": {"Fn::GetAtt": ["RecapsDeliveryStream", "Arn"]}} in statements
    sinks = re.search(r'HTTPRECAP_SINKS\s+= "([^"]+)"', _terraform("main.tf"))
    assert sinks and "firehose://${aws_kinesis_firehose_delivery_stream.recaps.name}" in \
        sinks[1].split(",")
    delivery = _terraform("recaps_delivery.tf")
    assert "role       = aws_iam_role.orders.name" in delivery
    assert 'Action   = "firehose:PutRecordBatch"' in delivery
