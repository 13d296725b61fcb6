"""The orders-api example: its SAM template passes cfn-lint and wires the layer, the CDK stack
does the same, and the handler works against a local upstream and moto."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/orders"
WRAPPER = "/opt/httprecap-wrapper"


def test_sam_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(EXAMPLE / "template.yaml")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_template_attaches_the_layer_and_sets_the_wrapper() -> None:
    template, _ = decode(str(EXAMPLE / "template.yaml"))
    resources = template["Resources"]
    function = resources["OrdersFunction"]["Properties"]
    assert function["Layers"] == [{"Ref": "HttprecapLayer"}]
    assert function["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == WRAPPER
    layer = resources["HttprecapLayer"]["Properties"]
    assert (EXAMPLE / layer["ContentUri"]).resolve() == ROOT / "dist/httprecap-layer.zip"
    assert layer["CompatibleRuntimes"] == [f"python3.{minor}" for minor in range(10, 15)]


def test_cdk_stack_attaches_the_layer_and_sets_the_wrapper() -> None:
    source = (EXAMPLE / "cdk/orders_stack.py").read_text()
    tree = ast.parse(source)
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert {"AWS_LAMBDA_EXEC_WRAPPER", WRAPPER} <= strings
    keywords = {node.arg for node in ast.walk(tree) if isinstance(node, ast.keyword)}
    assert "layers" in keywords
    ast.parse((EXAMPLE / "cdk/app.py").read_text())
    assert json.loads((EXAMPLE / "cdk/cdk.json").read_text())["app"] == "python3 app.py"


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[UpstreamServer, MotoServer]]:
    with UpstreamServer() as upstream, MotoServer() as moto:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url,
                          **_keys(moto))
        s3.create_bucket(Bucket="orders-receipts")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.url,
                                **_keys(moto))
        dynamodb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "orderId",
                                                     "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}])
        yield upstream, moto


def _keys(moto: MotoServer) -> dict[str, str]:
    env = moto.environment()
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}


def _invoke(services: tuple[UpstreamServer, MotoServer], event: dict[str, Any]) -> Any:
    """Runs the handler in a fresh interpreter, as a runtime would, and returns its outcome."""
    upstream, moto = services
    env = {**os.environ, **moto.environment(), "ORDERS_API_URL": upstream.url,
           "ORDERS_BUCKET": "orders-receipts", "ORDERS_TABLE": "orders",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "PYTHONDONTWRITEBYTECODE": "1"}
    code = ("import json, sys, app\n"
            "try:\n    print(json.dumps(app.handler(json.loads(sys.argv[1]), None)))\n"
            "except Exception as exc:\n    print(json.dumps({'raised': type(exc).__name__}))\n")
    result = subprocess.run([sys.executable, "-c", code, json.dumps(event)], cwd=EXAMPLE,
                            env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_handler_places_an_order(services: tuple[UpstreamServer, MotoServer]) -> None:
    outcome = _invoke(services, {"orderId": "42", "customerId": "c-7",
                                 "items": [{"sku": "A1", "quantity": 2}]})
    assert outcome == {"orderId": "42", "shipping": "booked"}
    moto = services[1]
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, **_keys(moto))
    assert s3.get_object(Bucket="orders-receipts", Key="receipts/42.json")["ContentLength"] > 0


def test_handler_survives_a_dropped_shipping_call(
        services: tuple[UpstreamServer, MotoServer]) -> None:
    outcome = _invoke(services, {"orderId": "43", "endpoints": {"shipping": "/drop",
                                                                "pricing": "/redirect"}})
    assert outcome == {"orderId": "43", "shipping": "pending"}


def test_handler_fails_when_payment_fails(services: tuple[UpstreamServer, MotoServer]) -> None:
    assert _invoke(services, {"orderId": "44", "endpoints": {"payment": "/fail"}}) == {
        "raised": "PaymentDeclined"}
