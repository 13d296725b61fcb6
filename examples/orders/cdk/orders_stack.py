"""The orders-api stack: the function, its bucket and table, and the httprecap layer (deploy-time).

The three steps of using httprecap, as CDK sees them: (1) a LayerVersion from the built zip,
attached to the function; (2) `AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`; (3) the recaps
in the function's log group, printed by `httprecap view --log-group`. Then the fleet's saved
Logs Insights queries, dashboard and alarms (fleet_spec.py, docs/FLEET.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fleet_spec
from aws_cdk import BundlingOptions, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

FUNCTION_DIR = Path(__file__).resolve().parent.parent
RUNTIME = lambda_.Runtime.PYTHON_3_12
# Every Python runtime the layer serves, named so that older CDK releases accept them too;
# CDK matches the function's runtime to the layer's by name, family and inline-code support.
LAYER_RUNTIMES = [lambda_.Runtime(f"python3.{minor}", lambda_.RuntimeFamily.PYTHON,
                                  supports_inline_code=True) for minor in range(10, 15)]


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
        self._fleet(function, host=urlsplit(api_url).hostname or api_url)

    # --- fleet: saved queries, dashboard and alarms (docs/FLEET.md) ------------------------

    def _fleet(self, function: lambda_.Function, host: str) -> None:
        log_group = f"/aws/lambda/{function.function_name}"
        for name, query in fleet_spec.QUERIES:
            logs.CfnQueryDefinition(self, "Query" + name.split("/")[-1].title().replace("-", ""),
                                    name=name, query_string=query, log_group_names=[log_group])
        body = Fn.sub(fleet_spec.DASHBOARD_BODY,
                      {"FunctionName": function.function_name, "LogGroupName": log_group})
        cloudwatch.CfnDashboard(self, "FleetDashboard", dashboard_body=body,
                                dashboard_name=f"httprecap-{function.function_name}")
        self._host_alarms(function, host)

    def _host_alarms(self, function: lambda_.Function, host: str) -> None:
        """A failed-call rate and a p95 latency alarm on the orders API host's EMF metrics."""
        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=fleet_spec.NAMESPACE, metric_name=name, statistic=statistic,
                period=Duration.seconds(fleet_spec.PERIOD_SECONDS),
                dimensions_map={"FunctionName": function.function_name, "Host": host})

        rate = cloudwatch.MathExpression(
            expression="100 * errors / calls", label="failed calls (%)",
            using_metrics={"errors": metric("Errors", "Sum"), "calls": metric("Calls", "Sum")},
            period=Duration.seconds(fleet_spec.PERIOD_SECONDS))
        for construct_id, watched, threshold in (
                ("FleetHostErrorRateAlarm", rate, fleet_spec.ERROR_RATE_PERCENT),
                ("FleetHostLatencyAlarm", metric("Latency", "p95"), fleet_spec.P95_MS)):
            watched.create_alarm(
                self, construct_id, threshold=threshold,
                evaluation_periods=fleet_spec.EVALUATION_PERIODS,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)

    def _function_code(self) -> lambda_.Code:
        """app.py with `requests` installed beside it (boto3 comes with the runtime)."""
        command = "pip install -q -r requirements.txt -t /asset-output && cp app.py /asset-output"
        return lambda_.Code.from_asset(
            str(FUNCTION_DIR),
            exclude=["cdk", "cdk.out", "__pycache__", "template.yaml", "README.md"],
            bundling=BundlingOptions(image=RUNTIME.bundling_image,
                                     command=["bash", "-c", command]))
