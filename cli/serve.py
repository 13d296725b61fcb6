"""`httprecap serve`: keep one warm sandbox and answer invocations over HTTP (dev-time).

Like the AWS runtime interface emulator: `POST /2015-03-31/functions/function/invocations`
with the event as body answers the response payload as soon as the runtime posts it; function
errors carry `X-Amz-Function-Error: Unhandled`. Ctrl-C or SIGTERM shuts the environment down
(SHUTDOWN spindown to the extensions) and exits. Requests are served concurrently; with
`--max-concurrency N` (Lambda Managed Instances) up to N of them run in the environment at once,
otherwise they take turns as on classic Lambda.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from httprecap.cli.run import add_function_options, config_from_args, print_log
from httprecap.errors import UsageError

INVOKE_PATH = re.compile(r"/2015-03-31/functions/[^/]+/invocations")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a warm function on the Invoke API (like the AWS RIE)",
        description="Keep one sandboxed function warm and answer POST "
        "/2015-03-31/functions/function/invocations on 127.0.0.1, e.g. with "
        "curl -d '{}' localhost:9000/2015-03-31/functions/function/invocations")
    add_function_options(parser)
    parser.add_argument("--port", type=int, default=9000,
                        help="port on 127.0.0.1 to listen on (default 9000)")
    parser.set_defaults(func=execute)


class _InvokeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _InvokeServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not INVOKE_PATH.fullmatch(self.path.split("?", 1)[0]):
            self._send(404, b'{"message":"not found"}', {})
            return
        response = self.server.invoke(body or b"{}", self.headers.get("X-Amzn-Trace-Id"))
        headers = {"Content-Type": response.content_type, "X-Amz-Executed-Version": "$LATEST"}
        if response.function_error:
            headers["X-Amz-Function-Error"] = response.function_error
        self._send(response.status_code, response.payload, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        pass


class _InvokeServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Any = None

    def invoke(self, body: bytes, trace_id: str | None) -> Any:
        """Wait for the response only; the rest of the invoke goes on in the sandbox."""
        response: Future[Any] = Future()
        invocation = self.sandbox.invoke_async(body, trace_id, on_response=response.set_result)
        invocation.add_done_callback(lambda done: _settle(response, done))
        return response.result()


def _settle(response: Future[Any], invocation: Future[Any]) -> None:
    """An invoke that ended without responding (it crashed in the sandbox) must not hang."""
    if not response.done():
        error = invocation.exception() or RuntimeError("the invoke ended without a response")
        response.set_exception(error)


def _bind(port: int) -> _InvokeServer:
    try:
        return _InvokeServer(("127.0.0.1", port), _InvokeHandler)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


def execute(args: argparse.Namespace) -> int:
    from httprecap.sandbox import Sandbox
    from httprecap.sandbox.config import validate

    config = config_from_args(args)
    validate(config)
    server = _bind(args.port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Sandbox(config, on_log=print_log) as sandbox:
            server.sandbox = sandbox
            threading.Thread(target=server.serve_forever, daemon=True).start()
            print(f"httprecap: serving {config.handler} on http://127.0.0.1:{args.port}"
                  "/2015-03-31/functions/function/invocations (Ctrl-C to stop)",
                  file=sys.stderr, flush=True)
            while not stop.wait(0.5):
                pass
            server.shutdown()
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
