"""The orders-api stack: the function, its bucket and table, and the httprecap layer (deploy-time).

The three steps of using httprecap, as CDK sees them: (1) a LayerVersion from the built zip,
attached to the function; (2) `AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`; (3) the recaps
in the function's log group, printed by `httprecap view --log-group`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import BundlingOptions, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

FUNCTION_DIR = Path(__file__).resolve().parent.parent
RUNTIME = lambda_.Runtime.PYTHON_3_12
# Every Python runtime the layer serves, named so that older CDK releases accept them too.
LAYER_RUNTIMES = [lambda_.Runtime(f"python3.{minor}", lambda_.RuntimeFamily.PYTHON)
                  for minor in range(10, 15)]


class OrdersStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, layer_zip: str, api_url: str,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        layer = lambda_.LayerVersion(
            self, "Httprecap", code=lambda_.Code.from_asset(layer_zip),
            compatible_runtimes=LAYER_RUNTIMES,
            compatible_architectures=[lambda_.Architecture.X86_64],
            license="Apache-2.0",
            description="httprecap: a recap of every outbound HTTP call of each invocation")
        bucket = s3.Bucket(self, "Receipts", removal_policy=RemovalPolicy.RETAIN)
        table = dynamodb.Table(
            self, "Orders", billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            partition_key=dynamodb.Attribute(name="orderId", type=dynamodb.AttributeType.STRING))
        function = lambda_.Function(
            self, "OrdersFunction", function_name="orders-api", runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64, handler="app.handler",
            code=self._function_code(), timeout=Duration.seconds(15), memory_size=256,
            layers=[layer],                                                  # (1)
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",         # (2)
                "HTTPRECAP_SINKS": "stdout,emf",
                "ORDERS_API_URL": api_url,
                "ORDERS_BUCKET": bucket.bucket_name,
                "ORDERS_TABLE": table.table_name,
            },
            log_retention=logs.RetentionDays.TWO_WEEKS)
        bucket.grant_read_write(function)
        table.grant_read_write_data(function)
        CfnOutput(self, "ReadTheRecaps",                                     # (3)
                  value=f"httprecap view --log-group /aws/lambda/{function.function_name}")

    def _function_code(self) -> lambda_.Code:
        """app.py with `requests` installed beside it (boto3 comes with the runtime)."""
        command = "pip install -q -r requirements.txt -t /asset-output && cp app.py /asset-output"
        return lambda_.Code.from_asset(
            str(FUNCTION_DIR),
            exclude=["cdk", "cdk.out", "__pycache__", "template.yaml", "README.md"],
            bundling=BundlingOptions(image=RUNTIME.bundling_image,
                                     command=["bash", "-c", command]))
