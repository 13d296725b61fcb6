"""CDK (Python) app for the orders-api example with the httprecap layer (deploy-time).

    httprecap layer build                     # at the repository root: dist/httprecap-layer.zip
    cd examples/orders/cdk && pip install -r requirements.txt
    cdk deploy -c ordersApiUrl=https://api.example.com
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App
from orders_stack import OrdersStack

REPO = Path(__file__).resolve().parents[3]

app = App()
OrdersStack(
    app, "OrdersApi",
    layer_zip=str(app.node.try_get_context("layerZip") or REPO / "dist/httprecap-layer.zip"),
    api_url=str(app.node.try_get_context("ordersApiUrl") or "https://api.example.com"),
)
app.synth()
