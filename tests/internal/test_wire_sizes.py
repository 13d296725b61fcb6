"""Body sizes as they crossed the wire, in process: a compressed response counts its compressed
bytes, a response body read after its call returned counts what came (and its error, if it
broke), a streamed request body counts what was sent, and a requests call that reached the wire
without a urllib3 pool run is recorded while a mock's answer is not. Sizes are checked against
the logging upstream's own account of each exchange (tests/wire_support.py)."""

from __future__ import annotations

import array
import asyncio
import gzip
import http.client
import io
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import botocore.session
import httpx
import pytest
import requests
import requests_mock
import urllib3
from botocore.config import Config
from truncating_server import DECLARED, SENT, TruncatingServer
from wire_support import Exchange, WireUpstream, self_signed

from httprecap.internal import invocation

if TYPE_CHECKING:
    from conftest import Capture


@pytest.fixture(scope="module")
def upstream() -> Iterator[WireUpstream]:
    with WireUpstream() as server:
        yield server


@pytest.fixture
def truncating() -> Iterator[TruncatingServer]:
    with TruncatingServer() as server:
        yield server


def exchange(upstream: WireUpstream, tag: int) -> Exchange:
    """The one request carrying `tag` as the upstream logged it."""
    exchanges = upstream.log.tagged(tag)
    assert len(exchanges) == 1, exchanges
    return exchanges[0]


def pieces(size: int) -> Iterator[bytes]:
    """A request body of `size` bytes as a generator (sent chunked: no length known)."""
    data = b"x" * size
    return (data[start:start + 100] for start in range(0, size, 100))


class Readable:
    """A readable body with no length and no file behind it (sent chunked), rewindable."""

    def __init__(self, size: int) -> None:
        self._data = io.BytesIO(b"y" * size)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def tell(self) -> int:
        return self._data.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)


# ---------------------------------------------------------------- compressed responses


def test_requests_gzip_body_counts_its_compressed_bytes(installed: Capture,
                                                        upstream: WireUpstream) -> None:
    response = requests.get(f"{upstream.url}/gzip?n=5000&w=101", timeout=5)
    assert len(response.content) == 5000
    assert installed.only_call()["bytesReceived"] == exchange(upstream, 101).sent < 5000


def test_urllib3_gzip_body_counts_its_compressed_bytes(installed: Capture,
                                                       upstream: WireUpstream) -> None:
    response = urllib3.PoolManager().request("GET", f"{upstream.url}/gzip?n=5000&w=102")
    assert len(response.data) == 5000
    assert installed.only_call()["bytesReceived"] == exchange(upstream, 102).sent < 5000


class _GzipChunked(BaseHTTPRequestHandler):
    """Answers every GET with 5000 bytes gzip-compressed, sent in 100-byte chunks."""

    protocol_version = "HTTP/1.1"
    body = gzip.compress(b"0123456789" * 500, mtime=0)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(self.body), 100):
            piece = self.body[start:start + 100]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gzip_chunked() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GzipChunked)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_gzip_body_sent_chunked_counts_its_compressed_bytes_when_followed(
        installed: Capture, gzip_chunked: str) -> None:
    with requests.get(f"{gzip_chunked}/", stream=True, timeout=5) as reply:
        assert len(reply.content) == 5000
    assert installed.only_call()["bytesReceived"] == len(_GzipChunked.body)


def test_a_gzip_body_sent_chunked_and_read_inside_the_call_counts_its_compressed_bytes(
        installed: Capture, gzip_chunked: str) -> None:
    assert len(requests.get(f"{gzip_chunked}/", timeout=5).content) == 5000
    assert len(urllib3.PoolManager().request("GET", f"{gzip_chunked}/").data) == 5000
    sizes = [call["bytesReceived"] for call in installed.calls()]
    assert sizes == [len(_GzipChunked.body)] * 2


class _ChunkedS3(BaseHTTPRequestHandler):
    """S3 answering in chunked bodies: a listing (read by botocore inside the call) and an
    object (read by the user afterwards), in 64-byte chunks."""

    protocol_version = "HTTP/1.1"
    listing = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.'
               b'amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><KeyCount>0</KeyCount>'
               b"<IsTruncated>false</IsTruncated></ListBucketResult>")
    data = b"o" * 700

    def do_GET(self) -> None:
        body = self.listing if "list-type" in self.path else self.data
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 64):
            piece = body[start:start + 64]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


def test_botocore_chunked_responses_count_what_came(installed: Capture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedS3)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        s3 = botocore.session.get_session().create_client(
            "s3", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s",
            config=Config(s3={"addressing_style": "path"}))
        assert s3.list_objects_v2(Bucket="bucket")["KeyCount"] == 0
        answer = s3.get_object(Bucket="bucket", Key="a.bin")
        assert answer["Body"].read() == _ChunkedS3.data
    finally:
        server.shutdown()
        server.server_close()
    calls = installed.calls()
    assert [(c["aws"]["operation"], c["bytesReceived"]) for c in calls] == [
        ("ListObjectsV2", len(_ChunkedS3.listing)), ("GetObject", len(_ChunkedS3.data))]


# ---------------------------------------------------------------- bodies read after the call


def test_requests_streamed_body_counts_what_came_once_read(installed: Capture,
                                                           upstream: WireUpstream) -> None:
    with requests.get(f"{upstream.url}/chunked?n=888&w=103", stream=True, timeout=5) as reply:
        assert installed.calls() == []  # its body is still to come
        assert sum(len(piece) for piece in reply.iter_content(100)) == 888
    call = installed.only_call()
    assert (call["status"], call["error"], call["bytesReceived"]) == (200, None, 888)


def test_requests_streamed_gzip_body_counts_its_compressed_bytes(
        installed: Capture, upstream: WireUpstream) -> None:
    with requests.get(f"{upstream.url}/gzip?n=5000&w=104", stream=True, timeout=5) as reply:
        assert len(reply.content) == 5000
    assert installed.only_call()["bytesReceived"] == exchange(upstream, 104).sent < 5000


def test_urllib3_unpreloaded_body_counts_what_came_once_read(installed: Capture,
                                                             upstream: WireUpstream) -> None:
    manager = urllib3.PoolManager()
    reply = manager.request("GET", f"{upstream.url}/chunked?n=777&w=105", preload_content=False)
    assert sum(len(piece) for piece in reply.stream(100)) == 777
    reply.release_conn()
    reply = manager.request("GET", f"{upstream.url}/bytes?n=555&w=106", preload_content=False)
    assert len(reply.read()) == 555
    reply.release_conn()
    assert [call["bytesReceived"] for call in installed.calls()] == [777, 555]


def test_requests_streamed_body_broken_midway_is_the_call_s_error(
        installed: Capture, truncating: TruncatingServer) -> None:
    with requests.get(f"{truncating.url}/close", stream=True, timeout=5) as reply, \
            pytest.raises(requests.exceptions.ChunkedEncodingError):
        reply.content  # noqa: B018 (reads the body)
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "ChunkedEncodingError"


def test_urllib3_unpreloaded_body_broken_midway_is_the_call_s_error(
        installed: Capture, truncating: TruncatingServer) -> None:
    reply = urllib3.PoolManager().request("GET", f"{truncating.url}/close",
                                          preload_content=False)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        reply.read()
    call = installed.only_call()
    assert (call["status"], call["bytesReceived"]) == (200, SENT)
    assert call["error"]["type"] == "ProtocolError"


def test_streamed_body_closed_unread_keeps_its_declared_length(
        installed: Capture, truncating: TruncatingServer) -> None:
    with requests.get(f"{truncating.url}/slow", stream=True, timeout=5) as reply:
        assert reply.status_code == 200
    call = installed.only_call()
    assert (call["status"], call["error"], call["bytesReceived"]) == (200, None, DECLARED)


def test_streamed_body_never_read_is_handed_over_before_its_invocation_s_end(
        installed: Capture, truncating: TruncatingServer) -> None:
    reply = requests.get(f"{truncating.url}/slow", stream=True, timeout=5)
    assert installed.calls() == []
    try:
        invocation.end("success")  # the handler returned, its response never read
        installed.collector.wait_for(lambda: bool(installed.collector.of_kind("end")))
        kinds = [m["k"] for m in installed.collector.messages]
        assert kinds.index("call") < kinds.index("end")
        assert installed.only_call()["status"] == 200
    finally:
        reply.close()
        invocation.reset()


# ---------------------------------------------------------------- streamed request bodies


def test_requests_generator_body_counts_what_was_sent(installed: Capture,
                                                      upstream: WireUpstream) -> None:
    body = pieces(450)
    response = requests.post(f"{upstream.url}/echo?w=107", data=body, timeout=5)
    assert len(response.content) == 450
    assert response.request.body is body  # the user's own body, as they gave it
    assert installed.only_call()["bytesSent"] == exchange(upstream, 107).received == 450


def test_a_redirected_request_holds_the_user_s_own_body(installed: Capture,
                                                       upstream: WireUpstream) -> None:
    body = pieces(300)
    response = requests.post(f"{upstream.url}/redirect?answer=307&to=/echo&w=118", data=body,
                             timeout=5)
    assert [answer.request.body for answer in (*response.history, response)] == [body, body]


def test_urllib3_generator_and_readable_bodies_count_what_was_sent(
        installed: Capture, upstream: WireUpstream) -> None:
    pool = urllib3.HTTPConnectionPool(upstream.host, upstream.port)
    pool.urlopen("POST", "/echo?w=108", pieces(250))  # positional, as urlopen's signature has it
    urllib3.PoolManager().request("POST", f"{upstream.url}/echo?w=109", body=Readable(333))
    assert [call["bytesSent"] for call in installed.calls()] == [250, 333]
    assert (exchange(upstream, 108).received, exchange(upstream, 109).received) == (250, 333)


def test_a_rewound_body_counts_one_sending(installed: Capture, upstream: WireUpstream) -> None:
    retry = urllib3.Retry(total=2, status_forcelist=[503], backoff_factor=0,
                          allowed_methods=None, raise_on_status=False)
    reply = urllib3.PoolManager().request("POST", f"{upstream.url}/flaky?fails=1&w=110",
                                          body=Readable(64), retries=retry)
    assert reply.status == 200
    assert [e.received for e in upstream.log.tagged(110)] == [64, 64]
    assert installed.only_call()["bytesSent"] == 64


def test_botocore_aws_chunked_upload_counts_what_was_sent(installed: Capture,
                                                          tmp_path: Path) -> None:
    # Over HTTPS botocore sends PutObject's body aws-chunked with a trailing checksum, chunked
    # on the wire (no Content-Length): the aws-chunked encoding is part of the body.
    certificate = self_signed(tmp_path)
    with WireUpstream(tls=certificate) as secure:
        s3 = botocore.session.get_session().create_client(
            "s3", endpoint_url=secure.url, region_name="us-east-1",
            verify=str(certificate.cert), aws_access_key_id="k", aws_secret_access_key="s",
            config=Config(s3={"addressing_style": "path"}))
        s3.put_object(Bucket="bucket", Key="w-119/a.bin", Body=b"b" * 2048)
        sent = exchange(secure, 119).received
    assert sent > 2048  # the aws-chunked framing and trailer
    assert installed.only_call()["bytesSent"] == sent


def test_http_client_generator_and_file_bodies_count_what_was_sent(
        installed: Capture, upstream: WireUpstream, tmp_path: Path) -> None:
    connection = http.client.HTTPConnection(upstream.host, upstream.port, timeout=5)
    connection.request("POST", "/echo?w=111", body=pieces(321), encode_chunked=True)
    assert len(connection.getresponse().read()) == 321
    connection.close()
    path = tmp_path / "body.bin"
    path.write_bytes(b"z" * 555)
    with path.open("rb") as file:
        request = urllib.request.Request(f"{upstream.url}/echo?w=112", data=file,
                                         method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:  # sent chunked
            assert len(reply.read()) == 555
    assert [call["bytesSent"] for call in installed.calls()] == [321, 555]
    assert (exchange(upstream, 111).received, exchange(upstream, 112).received) == (321, 555)


def test_a_buffer_body_is_sent_whole_and_counted(installed: Capture,
                                                 upstream: WireUpstream) -> None:
    body = array.array("B", b"q" * 300)  # a buffer with `__iter__`: not a stream to count
    connection = http.client.HTTPConnection(upstream.host, upstream.port, timeout=5)
    connection.request("POST", "/echo?w=117", body=body)
    assert connection.getresponse().read() == b"q" * 300
    connection.close()
    assert installed.only_call()["bytesSent"] == exchange(upstream, 117).received == 300


def test_httpx_iterator_bodies_count_what_was_sent(installed: Capture,
                                                   upstream: WireUpstream) -> None:
    async def gen(size: int) -> AsyncIterator[bytes]:
        for piece in pieces(size):
            yield piece

    async def send_async() -> int:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{upstream.url}/echo?w=114", content=gen(222))
            return len(response.content)

    with httpx.Client() as client:
        body = pieces(450)
        response = client.post(f"{upstream.url}/echo?w=113", content=body)
        assert len(response.content) == 450
    assert asyncio.run(send_async()) == 222
    assert [call["bytesSent"] for call in installed.calls()] == [450, 222]
    assert (exchange(upstream, 113).received, exchange(upstream, 114).received) == (450, 222)


def test_aiohttp_async_generator_body_counts_what_was_sent(installed: Capture,
                                                           upstream: WireUpstream) -> None:
    async def gen() -> AsyncIterator[bytes]:
        for piece in pieces(450):
            yield piece

    async def send() -> int:
        async with aiohttp.ClientSession() as session, \
                session.post(f"{upstream.url}/echo?w=115", data=gen()) as response:
            return len(await response.read())

    assert asyncio.run(send()) == 450
    assert installed.only_call()["bytesSent"] == exchange(upstream, 115).received == 450


# ---------------------------------------------------------------- reached the wire, or not


class _HttpClientAdapter(requests.adapters.HTTPAdapter):
    """Sends through http.client itself, as requests before 2.32 sends a chunked body (no
    urllib3 ``urlopen``)."""

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        parts = urllib3.util.parse_url(request.url)
        connection = http.client.HTTPConnection(parts.host, parts.port, timeout=5)
        connection.request(request.method or "GET", parts.request_uri, body=request.body,
                           headers=dict(request.headers))
        raw = urllib3.HTTPResponse.from_httplib(connection.getresponse()) \
            if hasattr(urllib3.HTTPResponse, "from_httplib") else \
            _response_of(connection.getresponse())
        return self.build_response(request, raw)


def _response_of(original: http.client.HTTPResponse) -> urllib3.HTTPResponse:
    return urllib3.HTTPResponse(body=original, headers=dict(original.getheaders()),
                                status=original.status, preload_content=False,
                                original_response=original)


def test_a_call_sent_without_a_urllib3_run_is_recorded(installed: Capture,
                                                       upstream: WireUpstream) -> None:
    with requests.Session() as session:
        session.mount("http://", _HttpClientAdapter())
        assert len(session.post(f"{upstream.url}/echo?w=116", data=b"abc").content) == 3
    call = installed.only_call()
    assert (call["library"], call["status"], call["bytesSent"], call["bytesReceived"]) == \
        ("requests", 200, 3, 3)


def test_a_call_answered_by_requests_mock_leaves_no_trace(installed: Capture) -> None:
    with requests_mock.Mocker() as mock:
        mock.get("https://api.example.com/items", json={"items": []})
        assert requests.get("https://api.example.com/items", timeout=5).json() == {"items": []}
    assert installed.calls() == [] and installed.collector.of_kind("start") == []
