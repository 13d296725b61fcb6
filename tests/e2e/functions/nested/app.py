"""A function whose calls nest or never reach the network, as the event asks: boto3 assuming a
role from a profile (STS inside the S3 call), a requests call made in a response hook, or
calls answered in process by moto and `responses`, each slower than the sender's notice
threshold. Every mode ends with one plain call to the upstream."""

import os
import tempfile
import time

import boto3
import requests
import responses
from moto import mock_aws

UPSTREAM = os.environ["UPSTREAM_URL"]
PROFILES = """[profile reader]
role_arn = arn:aws:iam::123456789012:role/reader
source_profile = base
role_session_name = e2e

[profile base]
aws_access_key_id = testing
aws_secret_access_key = testing
region = us-east-1
"""


def _assume_role():
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as config:
        config.write(PROFILES)
    os.environ["AWS_CONFIG_FILE"] = config.name
    boto3.Session(profile_name="reader").client("s3").list_buckets()


def _hooked():
    session = requests.Session()
    session.hooks["response"].append(
        lambda response, **kwargs: requests.get(f"{UPSTREAM}/fast?via=hook", timeout=5))
    session.get(f"{UPSTREAM}/fast?via=outer", timeout=5)


def _mocked():
    endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)  # moto mocks AWS's own endpoints
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.meta.events.register("before-call", lambda **kwargs: time.sleep(0.1))
            s3.list_buckets()
    finally:
        if endpoint is not None:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
    with responses.RequestsMock() as mock:
        mock.add_callback("GET", "https://api.example.com/items",
                          callback=lambda request: (time.sleep(0.1) or (200, {}, "[]")))
        requests.get("https://api.example.com/items", timeout=5)


MODES = {"assume": _assume_role, "hooked": _hooked, "mocked": _mocked}


def handler(event, context):
    MODES[event["mode"]]()
    requests.get(f"{UPSTREAM}/fast?via=last", timeout=5)
    return {"done": True}
