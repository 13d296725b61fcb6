"""Wire truth for the tests (dev time, loopback only): servers that log every request they
receive as it crossed the wire, and the comparison of a recap's calls with that log.

- `WireUpstream`: an HTTP service on 127.0.0.1 or [::1], plain or TLS (`self_signed`), whose
  log says for each request what it received (method, request-target, body bytes read) and
  what it answered (status, body bytes written: 0 for HEAD, 204 and 304), on which connection.
- `WireProxy`: a forward proxy that logs each request it is asked to forward (absolute-form,
  or CONNECT for a TLS tunnel) the same way, and forwards it to the upstream.
- `wire_mismatches`: what a recap's call says against what its requests' log lines say.

A request is matched to its call by a tag its client puts in the URL: `w=<n>` in the query,
or a path segment `w-<n>` (an S3 key, where botocore owns the query).

Endpoints (query parameters in brackets):
`/bytes[n]` 200 with n bytes; `/echo` 200 with the request body; `/status/<code>` that status
(no body for 204 and 304); `/redirect[hops,answer,to]` `answer` (302) redirects, `hops` of
them, then to `to` (/bytes), keeping the query; `/flaky[fails,answer]` answers `answer` (503)
to the first `fails` (1) requests with its tag, then as /bytes; `/chunked[n]` n bytes in
chunked encoding;
`/gzip[n]` n bytes gzip-compressed. Any other path plays S3 (path-style, botocore's
`endpoint_url`): PUT answers 200 with an ETag, DELETE 204, GET and HEAD an object of 321
bytes, and a key
containing `flaky` answers 503 SlowDown to its first request.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import ipaddress
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

TAG = re.compile(r"(?:[?&]w=|/w-)(\d+)")
NO_BODY_STATUSES = (204, 304)
S3_OBJECT_SIZE = 321


def tag_of(text: str) -> int | None:
    """The tag of a URL or request-target, if it carries one."""
    match = TAG.search(text)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Exchange:
    """One request as a server saw it, and its answer."""

    server: str  # "upstream" or "proxy"
    connection: int  # the server's number for the TCP connection it came on
    reused: bool  # a later request on a kept-alive connection
    method: str
    target: str  # as received: path+query, absolute-form at a proxy, host:port for CONNECT
    received: int  # request body bytes read
    status: int
    sent: int  # response body bytes written

    @property
    def tag(self) -> int | None:
        return tag_of(self.target)

    @property
    def path_and_query(self) -> str:
        if self.target.startswith(("http://", "https://")):
            parts = urlsplit(self.target)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return self.target


class WireLog:
    """What one server received, in arrival order; safe across its handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def all(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def tagged(self, tag: int) -> list[Exchange]:
        return [exchange for exchange in self.all() if exchange.tag == tag]


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1 (its own CA)."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(directory: Path) -> Certificate:
    """Made with the `cryptography` package when installed, else with the `openssl` CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _with_cryptography(cert, key)
    except ImportError:
        _with_openssl(cert, key)
    return Certificate(cert, key)


def _with_cryptography(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def _with_openssl(cert_path: Path, key_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("neither the cryptography package nor the openssl CLI is available")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key_path), "-out", str(cert_path), "-days", "1",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
        check=True, capture_output=True)


def has_ipv6_loopback() -> bool:
    """Whether [::1] can be bound here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- servers


class _WireServer(ThreadingHTTPServer):
    """A logging server on loopback (port 0: a free one), plain or TLS; a context manager."""

    daemon_threads = True
    role = "upstream"

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1",
                 tls: Certificate | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), handler)
        self.log = WireLog()
        self.tls = tls.server_context() if tls is not None else None
        self.scheme = "https" if tls is not None else "http"
        self._connections = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name=self.role, daemon=True)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{shown}:{self.port}"

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.tls is not None:  # the handshake runs on the handler's thread (setup)
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def next_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def __enter__(self) -> _WireServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()
        self.server_close()


class _LoggingHandler(BaseHTTPRequestHandler):
    """Reads each request's body as sent (Content-Length or chunked), answers, logs both."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    # A response leaves in one write (flushed when the request is handled): a client that
    # reads the head and hangs up (a redirect) never finds the body's write failing.
    wbufsize = 1 << 16
    server: _WireServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()
        self.connection_number = self.server.next_connection()
        self.served = 0

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        """Silence the default per-request stderr line."""

    def handle_expect_100(self) -> bool:
        answered = super().handle_expect_100()
        self.wfile.flush()  # the client waits for it before sending the body
        return answered

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, then the empty line
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def record(self, received: int, status: int, sent: int) -> None:
        self.server.log.add(Exchange(self.server.role, self.connection_number, self.served > 0,
                                     self.command, self.path, received, status, sent))
        self.served += 1

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None,
               received: int = 0) -> None:
        """Send `status` with `body` (none for HEAD, 204, 304) and log the exchange."""
        no_body = self.command == "HEAD" or status in NO_BODY_STATUSES
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status not in NO_BODY_STATUSES:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(body)
        self.record(received, status, 0 if no_body else len(body))


class _UpstreamHandler(_LoggingHandler):
    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        body = self.read_body()
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        size = int(query.get("n", "100"))
        route = url.path.rstrip("/") or "/"
        if route == "/bytes":
            self.answer(200, _payload(size), {"Content-Type": "application/octet-stream"},
                        len(body))
        elif route == "/echo":
            self.answer(200, body, {"Content-Type": "application/octet-stream"}, len(body))
        elif route.startswith("/status/"):
            status = int(route.rsplit("/", 1)[1])
            self.answer(status, b'{"status": "as asked"}', {"Content-Type": "application/json"},
                        len(body))
        elif route == "/redirect":
            self.answer(int(query.get("answer", "302")), b"moved", {"Location": _next_hop(url)},
                        len(body))
        elif route == "/flaky":
            self._flaky(query, size, len(body))
        elif route == "/chunked":
            self._chunked(_payload(size), len(body))
        elif route == "/gzip":
            compressed = gzip.compress(_payload(size), mtime=0)
            self.answer(200, compressed, {"Content-Encoding": "gzip"}, len(body))
        else:
            self._s3(url.path, len(body))

    def _flaky(self, query: dict[str, str], size: int, received: int) -> None:
        seen = len(self.server.log.tagged(tag_of(self.path) or -1))
        if seen < int(query.get("fails", "1")):
            self.answer(int(query.get("answer", "503")), b"try again", {"Retry-After": "0"},
                        received)
        else:
            self.answer(200, _payload(size), {}, received)

    def _chunked(self, body: bytes, received: int) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            for start in range(0, len(body), 64):
                piece = body[start:start + 64]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
        self.record(received, 200, sent)

    def _s3(self, path: str, received: int) -> None:
        if "flaky" in path and not self.server.log.tagged(tag_of(path) or -1):
            error = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
                     b"<Message>Reduce your request rate.</Message></Error>")
            self.answer(503, error, {"Content-Type": "application/xml"}, received)
        elif self.command == "PUT":
            self.answer(200, b"", {"ETag": '"0123456789abcdef"'}, received)
        elif self.command == "DELETE":
            self.answer(204, b"", {}, received)
        else:
            self.answer(200, _payload(S3_OBJECT_SIZE),
                        {"Content-Type": "application/octet-stream", "ETag": '"fedcba"'},
                        received)


def _payload(size: int) -> bytes:
    return (b"0123456789abcdef" * (size // 16 + 1))[:size]


def _next_hop(url: Any) -> str:
    """Where /redirect sends the client: one hop fewer, or `to` (the query kept, for the tag)."""
    query = {name: values[-1] for name, values in parse_qs(url.query).items()}
    hops = int(query.pop("hops", "1")) - 1
    if hops > 0:
        rest = "&".join(f"{name}={value}" for name, value in query.items())
        return f"/redirect?hops={hops}&{rest}"
    rest = "&".join(f"{name}={value}" for name, value in query.items() if name != "to")
    return f"{query.get('to', '/bytes')}?{rest}"


class WireUpstream(_WireServer):
    """The logging upstream (see the module docstring for its endpoints)."""

    def __init__(self, host: str = "127.0.0.1", tls: Certificate | None = None) -> None:
        super().__init__(_UpstreamHandler, host, tls)


# ---------------------------------------------------------------- forward proxy


class _ProxyHandler(_LoggingHandler):
    """Forwards absolute-form requests (each on a new upstream connection) and tunnels
    CONNECT; logs what the client sent it and what it answered the client."""

    def do_GET(self) -> None:
        body = self.read_body()
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self.answer(400, b"absolute-form http URL expected", {}, len(body))
            return
        upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        try:
            headers = {name: value for name, value in self.headers.items()
                       if name.lower() not in _HOP_HEADERS}
            target = url.path + (f"?{url.query}" if url.query else "")
            upstream.request(self.command, target or "/",
                             body=body if body or self.command in _BODY_METHODS else None,
                             headers=headers)
            response = upstream.getresponse()
            answer = response.read()
            passed = {name: value for name, value in response.getheaders()
                      if name.lower() not in _HOP_HEADERS and name.lower() != "content-length"}
            if self.command == "HEAD" and response.getheader("Content-Length"):
                passed["Content-Length"] = response.getheader("Content-Length", "0")
            self._relay(response.status, answer, passed, len(body))
        finally:
            upstream.close()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _relay(self, status: int, body: bytes, headers: dict[str, str], received: int) -> None:
        if self.command == "HEAD" and "Content-Length" in headers:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.record(received, status, 0)
            return
        self.answer(status, body, headers, received)

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        try:
            remote = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            self.answer(502, b"", {}, 0)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.record(0, 200, 0)
        self.close_connection = True
        _splice(self.connection, remote)


_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                          "te", "trailer", "transfer-encoding", "upgrade"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _splice(client: socket.socket, remote: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    with remote:
        sockets = [client, remote]
        while True:
            readable, _, _ = select.select(sockets, [], [], 10)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (remote if sock is client else client).sendall(data)


class WireProxy(_WireServer):
    """The logging forward proxy (http:// targets forwarded, https:// tunnelled)."""

    role = "proxy"

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(_ProxyHandler, host)


# ---------------------------------------------------------------- the comparison


def wire_mismatches(call: dict[str, Any], exchanges: list[Exchange],
                    origin: tuple[str, str, int] | None = None) -> dict[str, Any]:
    """Each field of a recap's `call` that disagrees with the log lines of its requests
    (`exchanges`, in order) and the server's `origin` (scheme, host, port), as
    {field: (recap, wire)}; empty when the call is wire-exact.

    A call's method and path are its first request's, its status its final response's;
    its attempts are its requests, one to one (none listed when there was one); bytesSent is
    the request body its first request delivered (each retry in these tests sends the same),
    bytesReceived the response body its final response delivered (0 for HEAD, 204, 304); its
    connection is new if one of its requests came on a connection the server had just
    accepted, else reused.
    """
    if not exchanges:
        return {"exchanges": (call.get("url"), "no request on the wire carries its tag")}
    first, last = exchanges[0], exchanges[-1]
    wanted: dict[str, tuple[Any, Any]] = {
        "method": (call["method"], first.method),
        "path": (call["path"], urlsplit(first.path_and_query).path),
        "status": (call["status"], last.status),
        "bytesSent": (call["bytesSent"], first.received),
        "bytesReceived": (call["bytesReceived"], last.sent),
        "attempts": (_attempts_seen(call), _attempts_sent(exchanges)),
        "connection": (call.get("connection"),
                       "reused" if all(exchange.reused for exchange in exchanges) else "new"),
    }
    if origin is not None:
        wanted["origin"] = ((call["scheme"], call["host"], call["port"]), origin)
    return {name: pair for name, pair in wanted.items() if pair[0] != pair[1]}


def _attempts_seen(call: dict[str, Any]) -> list[tuple[int | None, str]]:
    seen = []
    for attempt in call["attempts"]:
        parts = urlsplit(attempt["url"])
        seen.append((attempt["status"], parts.path + (f"?{parts.query}" if parts.query else "")))
    return seen


def _attempts_sent(exchanges: list[Exchange]) -> list[tuple[int | None, str]]:
    if len(exchanges) == 1:
        return []
    return [(exchange.status, exchange.path_and_query) for exchange in exchanges]


def calls_tagged(recaps: list[dict[str, Any]], tag: int) -> list[dict[str, Any]]:
    """Every call in `recaps` whose URL carries `tag`."""
    return [call for recap in recaps for call in recap["calls"] if tag_of(call["url"]) == tag]
