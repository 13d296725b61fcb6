"""orders-api: an example Lambda function that httprecap observes (runs in the Lambda runtime).

A typical back-office handler: it looks the customer up and prices the order over HTTP
(requests), charges the payment service, books shipping, stores the receipt in S3 and the order
in DynamoDB (boto3). Nothing in it knows about httprecap: the layer plus
`AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper` is all it takes to get a recap per invocation.

Configuration (environment):
    ORDERS_API_URL   base URL of the upstream API (the demo points it at a local service)
    ORDERS_BUCKET    S3 bucket for receipts
    ORDERS_TABLE     DynamoDB table for orders (partition key `orderId`, a string)

Event: {"orderId": "42", "customerId": "c-7", "items": [{"sku": "A1", "quantity": 2}]}
and, optionally, "endpoints": {"customer": "/slow?ms=200", ...} to send a step to another path
of the upstream API (the demo uses it to show slow, redirected, failing and dropped calls), and
"reorder": ["40", "41"] to add the items of earlier orders (the demo uses it to show findings).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
import requests
from botocore.config import Config

logger = logging.getLogger()
logger.setLevel(logging.INFO)

API_URL = os.environ.get("ORDERS_API_URL", "https://api.example.com").rstrip("/")
BUCKET = os.environ.get("ORDERS_BUCKET", "orders-receipts")
TABLE = os.environ.get("ORDERS_TABLE", "orders")
TIMEOUT = (2.0, 5.0)  # connect, read: an upstream must never eat the function's whole timeout
ENDPOINTS = {
    "customer": "/customers/{customerId}",
    "pricing": "/pricing",
    "payment": "/payments",
    "shipping": "/shipments",
}

# Created once per execution environment (at init) and reused by every invocation. botocore
# waits 60 s for an answer by default, longer than the function may run: bound it too.
http = requests.Session()
AWS_TIMEOUTS = Config(connect_timeout=TIMEOUT[0], read_timeout=TIMEOUT[1])
s3 = boto3.client("s3", config=AWS_TIMEOUTS)
dynamodb = boto3.client("dynamodb", config=AWS_TIMEOUTS)


class PaymentDeclined(Exception):
    """The payment service refused or failed: the order is not placed."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    order_id = str(event.get("orderId", "0"))
    endpoints = {**ENDPOINTS, **event.get("endpoints", {})}
    items = [*event.get("items", []), *_earlier_items(event.get("reorder", []))]
    customer = _get_json(endpoints["customer"].format(**_ids(event)))
    price = _get_json(endpoints["pricing"], params={"items": json.dumps(items)})
    _charge(endpoints["payment"], order_id, price)
    shipping = _book_shipping(endpoints["shipping"], order_id)
    receipt = {"orderId": order_id, "customer": customer, "price": price, "shipping": shipping}
    s3.put_object(Bucket=BUCKET, Key=f"receipts/{order_id}.json", Body=json.dumps(receipt))
    dynamodb.put_item(TableName=TABLE, Item=_order_record(order_id, shipping, items))
    logger.info("order %s placed, shipping %s", order_id, shipping)
    return {"orderId": order_id, "shipping": shipping}


def _ids(event: dict[str, Any]) -> dict[str, str]:
    return {"customerId": str(event.get("customerId", "anonymous")),
            "orderId": str(event.get("orderId", "0"))}


def _earlier_items(order_ids: list[str]) -> list[dict[str, Any]]:
    """The items of earlier orders that are still sold, to order again.

    Written the way handlers often are: one order read, and one catalog check, at a time, the
    check a quick `requests.get` (no session, no timeout). The demo shows what httprecap's
    findings say about it: one BatchGetItem would read the orders, the catalog's answer for a
    SKU could be kept rather than asked for again, and a call without a timeout can outlive
    the function.
    """
    items = []
    for earlier in order_ids:
        found = dynamodb.get_item(TableName=TABLE, Key={"orderId": {"S": str(earlier)}})
        for sku in found.get("Item", {}).get("skus", {}).get("SS", []):
            if requests.get(f"{API_URL}/catalog/{sku}").json().get("available", True):
                items.append({"sku": sku, "quantity": 1})
    return items


def _order_record(order_id: str, shipping: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    record = {"orderId": {"S": order_id}, "shipping": {"S": shipping}}
    skus = sorted({str(item["sku"]) for item in items if item.get("sku")})
    if skus:  # DynamoDB refuses an empty string set
        record["skus"] = {"SS": skus}
    return record


def _get_json(path: str, **kwargs: Any) -> Any:
    response = http.get(API_URL + path, timeout=TIMEOUT, **kwargs)
    response.raise_for_status()
    return response.json()


def _charge(path: str, order_id: str, price: Any) -> None:
    response = http.post(API_URL + path, json={"orderId": order_id, "price": price},
                         timeout=TIMEOUT)
    if response.status_code >= 400:
        raise PaymentDeclined(f"payment for order {order_id}: HTTP {response.status_code}")


def _book_shipping(path: str, order_id: str) -> str:
    """Shipping can be booked later: a failure here is logged, not fatal."""
    try:
        http.post(API_URL + path, json={"orderId": order_id}, timeout=TIMEOUT).raise_for_status()
    except requests.RequestException as exc:
        logger.warning("shipping for order %s not booked yet: %s", order_id, exc)
        return "pending"
    return "booked"
