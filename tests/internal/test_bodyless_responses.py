"""A response that has no body (a HEAD's, 204, 304) counts 0 bytes received, whatever its
Content-Length says, for every client, including when the body is not read in the call."""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import aiohttp
import boto3
import httpx
import pytest
import requests
import urllib3

if TYPE_CHECKING:
    from conftest import Capture

DECLARED = "100"  # the Content-Length every response declares, body or not


class _Handler(BaseHTTPRequestHandler):
    """HEAD anything, or GET /204 or /304: a response that declares a length and sends none."""

    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self._declare(200)

    def do_GET(self) -> None:
        self._declare(int(self.path.strip("/")))

    def _declare(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", DECLARED)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def declaring() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _requests(method: str, url: str) -> None:
    requests.request(method, url, stream=True, timeout=5).close()


def _urllib3(method: str, url: str) -> None:
    urllib3.PoolManager().urlopen(method, url, preload_content=False).release_conn()


def _http_client(method: str, url: str) -> None:
    host, _, path = url.removeprefix("http://").partition("/")
    connection = http.client.HTTPConnection(host, timeout=5)
    connection.request(method, "/" + path)
    connection.getresponse().close()
    connection.close()


def _httpx(method: str, url: str) -> None:
    with httpx.stream(method, url, timeout=5):
        pass


def _aiohttp(method: str, url: str) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session, session.request(method, url):
            pass

    asyncio.run(main())


CLIENTS: dict[str, Callable[[str, str], None]] = {
    "requests": _requests, "urllib3": _urllib3, "http.client": _http_client, "httpx": _httpx,
    "aiohttp": _aiohttp}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("method", "path"), [("HEAD", "/"), ("GET", "/204"), ("GET", "/304")])
def test_a_response_without_a_body_received_nothing(
        installed: Capture, declaring: str, client: str, method: str, path: str) -> None:
    CLIENTS[client](method, declaring + path)
    call = installed.only_call()
    assert (call["library"], call["method"]) == (client, method)
    assert call["bytesReceived"] == 0


def test_a_head_bucket_received_nothing(installed: Capture, declaring: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=declaring,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.head_bucket(Bucket="bucket")
    call = installed.only_call()
    assert (call["method"], call["aws"]["operation"], call["status"]) == ("HEAD", "HeadBucket", 200)
    assert call["bytesReceived"] == 0
