"""A function whose invocations make the calls a fleet query looks for: several hosts, slow
calls, failed ones (500, 404, refused), an AWS call throttled (429), AWS calls that succeed, a
call without a timeout, and an invocation that raises. No call at module level: every recap is
an invocation's, in the order the invocations ran."""

import os

import boto3
import botocore.exceptions
import requests
from botocore.config import Config

UPSTREAM = os.environ["UPSTREAM_URL"]
BUCKET = os.environ["BUCKET"]


def _throttled():
    """GetObject answered 429 (the upstream's /status/429, reached as a path-style bucket)."""
    client = boto3.client("s3", endpoint_url=UPSTREAM,
                          config=Config(retries={"total_max_attempts": 1},
                                        s3={"addressing_style": "path"}))
    try:
        client.get_object(Bucket="status", Key="429")
    except botocore.exceptions.ClientError:
        pass


def _read(response):
    return response["Body"].read()


def _refused():
    try:
        requests.get("http://127.0.0.1:1/refused", timeout=2)
    except requests.ConnectionError:
        pass


STEPS = {
    "fast": lambda: requests.get(f"{UPSTREAM}/fast", timeout=5),
    "untimed": lambda: requests.get(f"{UPSTREAM}/fast?untimed=1"),
    "slow": lambda: requests.get(f"{UPSTREAM}/slow?ms=60", timeout=5),
    "fail": lambda: requests.post(f"{UPSTREAM}/fail", data=b"x", timeout=5),
    "missing": lambda: requests.get(f"{UPSTREAM}/status/404", timeout=5),
    "put": lambda: boto3.client("s3").put_object(Bucket=BUCKET, Key="k", Body=b"hello"),
    "get": lambda: _read(boto3.client("s3").get_object(Bucket=BUCKET, Key="k")),
    "throttled": _throttled,
    "refused": _refused,
}


def handler(event, context):
    for step in event["steps"]:
        STEPS[step]()
    if event.get("raise"):
        raise RuntimeError("the order could not be placed")
    return {"requestId": context.aws_request_id}
