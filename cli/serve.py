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
import signal
import sys
import threading
from concurrent.futures import Future
from typing import Any

from httprecap.cli.run import add_function_options, config_from_args, print_log
from httprecap.errors import UsageError
from httprecap.sandbox.api.server import ApiServer, Reply, Request, Route, route

INVOKE_PATH = r"/2015-03-31/functions/[^/]+/invocations"


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


class Invoker:
    """The Invoke API's context: the warm sandbox, once it has started."""

    sandbox: Any = None

    def invoke(self, body: bytes, trace_id: str | None) -> Any:
        """Wait for the response only; the rest of the invoke goes on in the sandbox."""
        response: Future[Any] = Future()
        invocation = self.sandbox.invoke_async(body, trace_id, on_response=response.set_result)
        invocation.add_done_callback(lambda done: _settle(response, done))
        return response.result()


def _invoke(invoker: Invoker, request: Request, _match: Any) -> Reply:
    response = invoker.invoke(request.read_body() or b"{}", request.header("X-Amzn-Trace-Id"))
    headers = {"Content-Type": response.content_type, "X-Amz-Executed-Version": "$LATEST"}
    if response.function_error:
        headers["X-Amz-Function-Error"] = response.function_error
    return Reply(response.status_code, response.payload, headers)


ROUTES: list[Route] = [route("POST", INVOKE_PATH, _invoke)]


def _settle(response: Future[Any], invocation: Future[Any]) -> None:
    """An invoke that ended without responding (it crashed in the sandbox) must not hang."""
    if not response.done():
        error = invocation.exception() or RuntimeError("the invoke ended without a response")
        response.set_exception(error)


def _bind(invoker: Invoker, port: int) -> ApiServer:
    try:
        return ApiServer(invoker, ROUTES, port, name="httprecap-serve")
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


def execute(args: argparse.Namespace) -> int:
    from httprecap.sandbox import Sandbox
    from httprecap.sandbox.config import validate

    config = config_from_args(args)
    validate(config)
    invoker = Invoker()
    server = _bind(invoker, args.port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Sandbox(config, on_log=print_log) as sandbox:
            invoker.sandbox = sandbox
            server.start()
            print(f"httprecap: serving {config.handler} on http://127.0.0.1:{args.port}"
                  "/2015-03-31/functions/function/invocations (Ctrl-C to stop)",
                  file=sys.stderr, flush=True)
            while not stop.wait(0.5):
                pass
            server.close()  # before the sandbox shuts down: no invoke may reach it then
    finally:
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
