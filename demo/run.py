"""The demo: the example function in the local sandbox with the layer attached (dev-time).

What a user would see on AWS, on a machine with no AWS: it builds the layer (when the sources
changed), starts a local upstream API and a local AWS endpoint (moto), runs `examples/orders`
through a few scenarios — normal, slow, redirected, failing, a dropped connection, and a reorder
written the way that earns findings (earlier orders read one `GetItem` at a time, the same
catalog answer asked for again, slow services called one after another) — and prints each
invocation's recap, findings included, as the viewer shows it. The raw recaps (JSON lines, as
the `file://` sink wrote them) and an HTML report are left in the output directory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer
from httprecap.layer.build import build_layer, default_source_root
from httprecap.sandbox import FunctionConfig, InvokeResult, Sandbox

if TYPE_CHECKING:
    from httprecap.recap_schema import Recap

BUCKET = "orders-receipts"
TABLE = "orders"
LAYER_SOURCES = ("core", "internal", "external", "wrapper")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Scenario:
    title: str
    event: dict[str, Any]


ORDER = {"customerId": "c-7", "items": [{"sku": "A1", "quantity": 2}]}
SCENARIOS = (
    Scenario("a normal order", {**ORDER, "orderId": "1001"}),
    Scenario("a slow customer service, and pricing behind a redirect",
             {**ORDER, "orderId": "1002",
              "endpoints": {"customer": "/slow?ms=250", "pricing": "/redirect"}}),
    Scenario("the shipping service drops the connection",
             {**ORDER, "orderId": "1003", "endpoints": {"shipping": "/drop"}}),
    Scenario("the payment service fails with HTTP 500",
             {**ORDER, "orderId": "1004", "endpoints": {"payment": "/fail"}}),
    Scenario("a reorder of five earlier orders, read one by one; slow customer and pricing "
             "services called one after another",
             {**ORDER, "orderId": "1005", "reorder": ["1000", "1001", "1002", "1003", "1004"],
              "endpoints": {"customer": "/customers/{customerId}?delay=150",
                            "pricing": "/pricing?delay=150"}}),
)


@dataclass(frozen=True)
class DemoResult:
    recaps_path: Path
    html_path: Path
    results: list[InvokeResult]
    recaps: list[Recap]


def run_demo(out_dir: Path, layer_path: Path, progress: Progress,
             show: Callable[[Scenario, InvokeResult, list[Recap]], None]) -> DemoResult:
    """Run every scenario; `show` gets each invocation's result and the recaps it produced."""
    out_dir, layer_path = out_dir.resolve(), layer_path.resolve()  # the extension has its own cwd
    out_dir.mkdir(parents=True, exist_ok=True)
    recaps_path = out_dir / "recaps.jsonl"
    recaps_path.unlink(missing_ok=True)
    ensure_layer(layer_path, progress)
    results: list[InvokeResult] = []
    with ExitStack() as stack:
        env = stack.enter_context(_services(progress))
        env["HTTPRECAP_SINKS"] = f"file://{recaps_path}"
        progress("starting the function in the local Lambda sandbox "
                 "(layer attached, AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper)")
        sandbox = stack.enter_context(Sandbox(_function(layer_path, env)))
        seen = 0
        for scenario in SCENARIOS:
            result = sandbox.invoke(scenario.event)
            results.append(result)
            recaps = _read_recaps(recaps_path)
            show(scenario, result, recaps[seen:])
            seen = len(recaps)
    recaps = _read_recaps(recaps_path)
    html_path = out_dir / "report.html"
    from httprecap.view.report_html import render_html

    html_path.write_text(render_html(recaps, title="httprecap demo: orders-api"),
                         encoding="utf-8")
    return DemoResult(recaps_path, html_path, results, recaps)


def ensure_layer(layer_path: Path, progress: Progress) -> None:
    """Build the layer zip unless it is newer than every source file that goes into it."""
    root = default_source_root()
    newest = max(path.stat().st_mtime for folder in LAYER_SOURCES
                 for path in (root / folder).rglob("*") if path.is_file())
    if layer_path.exists() and layer_path.stat().st_mtime >= newest:
        progress(f"layer up to date: {layer_path}")
        return
    progress(f"building the layer: {layer_path}")
    build = build_layer(layer_path)
    progress(f"built the layer ({build.size / 1024:.0f} KiB, sha256 {build.sha256[:12]})")


@contextmanager
def _services(progress: Progress) -> Iterator[dict[str, str]]:
    """The upstream API and moto, yielding the environment that points the function at them."""
    progress("starting the local upstream API (fast, slow, redirecting, failing, dropping)")
    with UpstreamServer() as upstream:
        progress(f"  listening on {upstream.url}")
        progress("starting the local AWS endpoint (moto server: S3, DynamoDB)")
        with MotoServer() as moto:
            progress(f"  listening on {moto.url}")
            _create_resources(moto)
            yield {"ORDERS_API_URL": upstream.url, "ORDERS_BUCKET": BUCKET,
                   "ORDERS_TABLE": TABLE, **moto.environment()}


def _create_resources(moto: MotoServer) -> None:
    import boto3

    env = moto.environment()
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name=env["AWS_REGION"])
    session.client("s3", endpoint_url=moto.url).create_bucket(Bucket=BUCKET)
    session.client("dynamodb", endpoint_url=moto.url).create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}])


def _function(layer_path: Path, env: dict[str, str]) -> FunctionConfig:
    code = default_source_root() / "examples" / "orders"
    return FunctionConfig(code_dir=code, handler="app.handler", layers=[layer_path],
                          function_name="orders-api", timeout_s=15,
                          env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper", **env})


def _read_recaps(path: Path) -> list[Recap]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stderr_progress(message: str) -> None:
    print(f"▸ {message}", file=sys.stderr, flush=True)
