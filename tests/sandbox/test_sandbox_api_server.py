"""The sandbox's HTTP server reads request heads itself: what clients send must reach the
handlers as the standard library's parser gave it, and bad heads must be refused as it did."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from httprecap.sandbox.api.server import ApiServer, Reply, Request, json_reply, route


def _echo(context: object, request: Request, match: object) -> Reply:
    body = request.read_body()
    return json_reply(200, {"method": request.method, "path": request.path,
                            "id": request.header("Lambda-Extension-Identifier"),
                            "name": request.header("x-name"), "folded": request.header("X-Long"),
                            "missing": request.header("X-Absent"), "body": body.decode()})


@pytest.fixture
def server() -> Iterator[ApiServer]:
    api = ApiServer(object(), [route("GET", "/echo", _echo), route("POST", "/echo", _echo)])
    api.start()
    yield api
    api.close()


def _connect(api: ApiServer) -> socket.socket:
    host, port = api.address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def _reply(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    reply = http.client.HTTPResponse(sock)
    reply.begin()
    return reply.status, {name.lower(): value for name, value in reply.getheaders()}, \
        reply.read()


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_fields_are_found_in_any_case_first_value_wins_and_folded_lines_continue(
        server: ApiServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /echo?x=1 HTTP/1.1\r\nHost: sandbox\r\n"
                     b"LAMBDA-EXTENSION-IDENTIFIER:   abc  \r\nX-Name: first\r\n"
                     b"x-name: second\r\nX-Long: one\r\n\ttwo\r\n\r\n")
        status, _, body = _reply(sock)
    assert status == 200
    assert json.loads(body) == {"method": "GET", "path": "/echo", "id": "abc", "name": "first",
                                "folded": "one two", "missing": None, "body": ""}


def test_a_kept_alive_connection_serves_requests_in_turn_until_connection_close(
        server: ApiServer) -> None:
    with _connect(server) as sock:
        for number in range(3):
            payload = f'{{"n":{number}}}'.encode()
            sock.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: " + str(len(payload)).encode()
                         + b"\r\n\r\n" + payload)
            status, _, body = _reply(sock)
            assert (status, json.loads(body)["body"]) == (200, payload.decode())
        sock.sendall(b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert _reply(sock)[0] == 200
        assert _closed(sock)


def test_http_1_0_closes_after_its_reply(server: ApiServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
        assert _reply(sock)[0] == 200
        assert _closed(sock)


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: ApiServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"hello")
        status, _, body = _reply(sock)
    assert (status, json.loads(body)["body"]) == (200, "hello")


def test_chunked_bodies_are_read_whole(server: ApiServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
        status, _, body = _reply(sock)
    assert (status, json.loads(body)["body"]) == (200, "abcde")


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /echo\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /echo HTTX/1.1\r\n\r\n", 400),
    (b"GET /echo HTTP/1\r\n\r\n", 400),
    (b"GET /echo HTTP/2.0\r\n\r\n", 505),
    (b"GET /echo HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n",
     431),
    (b"GET /echo HTTP/1.1\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", 431),
])
def test_bad_heads_are_refused_and_the_connection_closed(server: ApiServer, head: bytes,
                                                         status: int) -> None:
    with _connect(server) as sock:
        sock.sendall(head)
        assert _reply(sock)[0] == status
        assert _closed(sock)


def test_unknown_paths_and_methods_get_the_api_error(server: ApiServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /nowhere HTTP/1.1\r\n\r\n")
        status, _, body = _reply(sock)
        assert status == 404
        assert json.loads(body)["errorType"] == "NotFound"
        sock.sendall(b"PUT /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert _reply(sock)[0] == 404
