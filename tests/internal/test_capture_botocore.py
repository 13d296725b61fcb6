"""Capture through boto3/botocore, against moto's server mode on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.utils import ContainerMetadataFetcher
from moto import mock_aws
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from conftest import Capture


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3(endpoint: str, **config: Any) -> Any:
    return boto3.client("s3", region_name="eu-west-1", endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(**config))


def test_api_calls_are_one_record_each_named_by_service(installed: Capture,
                                                        moto_endpoint: str) -> None:
    s3 = _s3(moto_endpoint)
    s3.create_bucket(Bucket="bucket-one",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="bucket-one", Key="k.txt", Body=b"hello")
    assert s3.get_object(Bucket="bucket-one", Key="k.txt")["Body"].read() == b"hello"
    calls = installed.calls()
    assert [c["aws"]["operation"] for c in calls] == ["CreateBucket", "PutObject", "GetObject"]
    for call in calls:
        assert call["library"] == "botocore"
        assert call["aws"]["service"] == "s3" and call["aws"]["region"] == "eu-west-1"
        assert call["status"] == 200 and call["host"] == "127.0.0.1"
    assert (calls[1]["method"], calls[1]["path"]) == ("PUT", "/bucket-one/k.txt")
    assert calls[2]["bytesReceived"] == 5
    # What went on the wire: the CreateBucket XML; the object, in aws-chunked framing when
    # botocore adds a checksum trailer (so at least its 5 bytes); nothing for the GET.
    assert calls[0]["bytesSent"] > 50 and calls[1]["bytesSent"] >= 5
    assert calls[2]["bytesSent"] == 0


def test_client_error_keeps_status_and_error(installed: Capture, moto_endpoint: str) -> None:
    s3 = _s3(moto_endpoint)
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket="missing", Key="k")
    call = installed.only_call()
    assert call["status"] == 404 and call["error"]["type"] == "NoSuchBucket"


def test_retries_are_attempts(installed: Capture) -> None:
    s3 = _s3("http://127.0.0.1:9", retries={"total_max_attempts": 3, "mode": "standard"},
             connect_timeout=1)
    with pytest.raises(Exception) as caught:
        s3.list_buckets()
    call = installed.only_call()
    assert call["error"]["type"] == type(caught.value).__name__ == "EndpointConnectionError"
    assert len(call["attempts"]) == 3 and call["aws"]["operation"] == "ListBuckets"


def test_call_that_never_reached_the_wire_is_not_recorded(installed: Capture,
                                                          moto_endpoint: str) -> None:
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        _s3(moto_endpoint).get_object(Bucket="bucket-one")  # Key missing: fails before sending
    assert installed.calls() == []


def _assuming_role(endpoint: str) -> Any:
    """A boto3 session whose credentials come from STS AssumeRole on first use."""
    def sts(service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name="eu-west-1", endpoint_url=endpoint, **kwargs)

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=sts, source_credentials=Credentials("testing", "testing"),
        role_arn="arn:aws:iam::123456789012:role/reader")
    session = botocore.session.Session()
    session._credentials = DeferredRefreshableCredentials(  # what a role_arn profile gives
        refresh_using=fetcher.fetch_credentials, method="assume-role")
    return boto3.Session(botocore_session=session, region_name="eu-west-1")


def test_credentials_fetched_inside_a_call_are_a_call_of_their_own(installed: Capture,
                                                                    moto_endpoint: str) -> None:
    s3 = _assuming_role(moto_endpoint).client("s3", endpoint_url=moto_endpoint)
    s3.list_buckets()  # botocore assumes the role while it signs the request
    sts, s3_call = installed.calls()
    assert (sts["aws"]["service"], sts["aws"]["operation"]) == ("sts", "AssumeRole")
    assert (sts["method"], sts["path"], sts["status"]) == ("POST", "/", 200)
    assert sts["bytesSent"] > 0 and sts["bytesReceived"] > 0
    assert (s3_call["aws"]["service"], s3_call["aws"]["operation"]) == ("s3", "ListBuckets")
    assert (s3_call["method"], s3_call["path"], s3_call["status"]) == ("GET", "/", 200)
    assert s3_call["bytesSent"] == 0 and s3_call["bytesReceived"] > 0
    assert sts["attempts"] == [] and s3_call["attempts"] == []
    assert s3_call["startedAtUs"] <= sts["startedAtUs"]


@pytest.fixture
def container_endpoint() -> Iterator[str]:
    """A loopback stand-in for the container credentials endpoint (Lambda SnapStart's)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"AccessKeyId": "testing", "SecretAccessKey": "testing",
                               "Token": "t", "Expiration": "2099-01-01T00:00:00Z"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/credentials"
    httpd.shutdown()
    httpd.server_close()


def test_credentials_from_the_container_endpoint_are_a_call_of_their_own(
        installed: Capture, moto_endpoint: str, container_endpoint: str) -> None:
    # botocore fetches them through a urllib3 pool of its own, inside the S3 call.
    def fetch() -> dict[str, str]:
        fetched = ContainerMetadataFetcher().retrieve_full_uri(container_endpoint)
        return {"access_key": fetched["AccessKeyId"], "secret_key": fetched["SecretAccessKey"],
                "token": fetched["Token"], "expiry_time": fetched["Expiration"]}

    session = botocore.session.Session()
    session._credentials = DeferredRefreshableCredentials(refresh_using=fetch,
                                                          method="container-role")
    boto3.Session(botocore_session=session, region_name="eu-west-1").client(
        "s3", endpoint_url=moto_endpoint).list_buckets()
    fetched, s3_call = installed.calls()
    assert (fetched["library"], fetched["path"], fetched["status"]) == \
        ("urllib3", "/credentials", 200)
    assert (s3_call["aws"]["operation"], s3_call["method"], s3_call["path"]) == \
        ("ListBuckets", "GET", "/")
    assert s3_call["status"] == 200 and s3_call["attempts"] == []


BUCKET_LIST = b"<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>"


@pytest.fixture
def flaky_s3() -> Iterator[str]:
    """A loopback S3 stand-in: 503 to the first request, then an empty bucket list."""
    answers = [(503, b"<Error><Code>SlowDown</Code></Error>"), (200, BUCKET_LIST)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_retried_call_ends_with_its_last_attempt(installed: Capture, flaky_s3: str) -> None:
    s3 = _s3(flaky_s3, retries={"total_max_attempts": 2, "mode": "standard"})
    assert s3.list_buckets()["Buckets"] == []
    call = installed.only_call()
    assert [a["status"] for a in call["attempts"]] == [503, 200]
    assert (call["status"], call["error"]) == (200, None)
    assert call["bytesReceived"] == len(BUCKET_LIST)


def test_a_call_answered_by_moto_in_process_leaves_no_trace(
        installed: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        # Slower than the sender's notice threshold: not even a `start` notice goes out.
        s3.meta.events.register("before-call", lambda **kwargs: time.sleep(0.15))
        assert s3.list_buckets()["Buckets"] == []
    assert installed.calls() == [] and installed.collector.of_kind("start") == []


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_a_call_names_the_resource_its_parameters_name(installed: Capture,
                                                      moto_endpoint: str) -> None:
    s3, sqs = _s3(moto_endpoint), _client("sqs", moto_endpoint)
    s3.create_bucket(Bucket="bucket-named",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    queue = sqs.create_queue(QueueName="q-named")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    s3.list_buckets()
    calls = installed.calls()
    assert [c["aws"].get("resource") for c in calls] == ["bucket-named", None, queue, None]
    assert "resource" not in calls[3]["aws"]  # no resource: no member at all


def test_a_batch_over_one_table_names_it_and_over_several_none(installed: Capture,
                                                              moto_endpoint: str) -> None:
    dynamodb = _client("dynamodb", moto_endpoint)
    for name in ("t-one", "t-two"):
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk",
                                                     "AttributeType": "S"}])
    keys = {"Keys": [{"pk": {"S": "a"}}]}
    dynamodb.batch_get_item(RequestItems={"t-one": keys})
    dynamodb.batch_get_item(RequestItems={"t-one": keys, "t-two": keys})
    calls = installed.calls()
    assert [c["aws"].get("resource") for c in calls] == ["t-one", "t-two", "t-one", None]
