"""A local AWS endpoint: moto's server mode on loopback (dev-time: demo and tests).

moto is imported only here, when the demo or a test asks for it. Its server (werkzeug's) closes
the connection after every response, where AWS keeps it alive: a client would open a new
connection for every call, which no function on Lambda does. So the endpoint a function is
given is a keep-alive front (`_KeepAliveFront`) that hands each request to moto.
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIDHTTPRECAPDEMO",
    "AWS_SECRET_ACCESS_KEY": "httprecap-demo-secret",
    "AWS_SESSION_TOKEN": "httprecap-demo-session-token",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoServer:
    """moto in a thread on 127.0.0.1 and a free port; `url` is the AWS_ENDPOINT_URL to use."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._front: _KeepAliveFront | None = None
        self.url = ""

    def __enter__(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._front = _KeepAliveFront((host, port))
        threading.Thread(target=self._front.serve_forever, name="moto-front", daemon=True).start()
        self.url = f"http://{host}:{self._front.server_address[1]}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._front is not None:
            self._front.shutdown()
            self._front.server_close()
        self._server.stop()

    def environment(self) -> dict[str, str]:
        """What a function or an extension needs in its environment to reach this endpoint."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.url}


class _KeepAliveFront(ThreadingHTTPServer):
    """An HTTP/1.1 server on loopback that keeps its clients' connections alive, as AWS does,
    and forwards each request to moto (`behind`: host and port) on a connection of its own."""

    daemon_threads = True

    def __init__(self, behind: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.behind = behind


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections stay open between requests
    disable_nagle_algorithm = True  # a head and a body written apart go out at once
    server: _KeepAliveFront

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass

    def _forward(self) -> None:
        body = self._body()
        # A plain socket, not http.client's connection: a test that captures in this process
        # must not see the front's own requests as calls.
        with socket.create_connection(self.server.behind, timeout=60) as moto:
            head = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items()
                           if name.lower() not in ("connection", "content-length",
                                                   "transfer-encoding"))
            moto.sendall(f"{self.command} {self.path} HTTP/1.1\r\n{head}Content-Length: "
                         f"{len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1") + body)
            answer = http.client.HTTPResponse(moto, method=self.command)
            answer.begin()
            content = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length",
                                    "server", "date"):
                self.send_header(name, value)
        declared = answer.getheader("Content-Length")
        self.send_header("Content-Length", declared if self.command == "HEAD" and declared
                         else str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _body(self) -> bytes:
        """The request's body, as sent with a Content-Length or chunked."""
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        pieces = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            pieces.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # the trailer
            pass
        return b"".join(pieces)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward
