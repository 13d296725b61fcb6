"""A function that sends a distinct secret (from its event) in every place a secret can hide
in an HTTP call: Authorization, Cookie and X-Api-Key headers, URL user-info, `token` and
`api_key` query parameters, presigned S3 URLs (X-Amz-Signature, X-Amz-Credential,
X-Amz-Security-Token, and the older Signature/AWSAccessKeyId form), boto3's SigV4 headers,
JSON and form request bodies echoed back as response bodies, and an error message that
repeats the URL. It never prints a secret; it returns the values AWS derived (signatures,
credential) so the test can look for them too."""

import os

import boto3
import requests
from botocore.config import Config

UPSTREAM = os.environ["UPSTREAM_URL"]
CLOSED = os.environ["CLOSED_URL"]
BUCKET = os.environ["BUCKET"]
s3 = boto3.client("s3")
s3v4 = boto3.client("s3", config=Config(signature_version="s3v4"))  # X-Amz-* query auth
_signed = {}


def _keep_signature(request, **kwargs):
    _signed["authorization"] = request.headers.get("Authorization", b"")


s3.meta.events.register("before-send.s3.PutObject", _keep_signature)


def _authority():
    return UPSTREAM.split("://", 1)[1]


def handler(event, context):
    secret = event["secrets"]
    requests.get(f"{UPSTREAM}/fast", timeout=5, headers={
        "Authorization": f"Bearer {secret['bearer']}",
        "Cookie": f"sid={secret['cookie']}",
        "X-Api-Key": secret["apiKeyHeader"]})
    requests.get(f"http://robot:{secret['userinfo']}@{_authority()}/fast", timeout=5)
    requests.get(f"{UPSTREAM}/fast", timeout=5,
                 params={"limit": "5", "token": secret["token"], "api_key": secret["apiKey"]})
    requests.post(f"{UPSTREAM}/echo", json={"password": secret["jsonPassword"]}, timeout=5)
    requests.post(f"{UPSTREAM}/echo", data={"client_secret": secret["formSecret"]}, timeout=5)
    presigned = [client.generate_presigned_url("get_object", ExpiresIn=60,
                                               Params={"Bucket": BUCKET, "Key": "report.csv"})
                 for client in (s3v4, s3)]
    for url in presigned:
        requests.get(url, timeout=5)
    s3.put_object(Bucket=BUCKET, Key="report.csv", Body=b"a,b\n")
    try:
        requests.get(f"{CLOSED}/callback?token={secret['errorToken']}", timeout=2)
    except requests.RequestException:
        pass  # its message repeats the URL: the recap must not
    authorization = _signed.get("authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode()
    return {"presigned": presigned, "sigv4": authorization}
