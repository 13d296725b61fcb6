"""`httprecap run`: invoke a Python function in the local Lambda sandbox (dev-time).

Prints each invocation's response payload as the Invoke API returns it (stdout, one line per
invocation) and the function's, extensions' and platform's log lines (stderr, as they come).
Exits non-zero when an invocation failed. The options shared with `serve` live here.
With `--max-concurrency N` the environment is a Lambda Managed Instances one and the
`--repeat` invocations are sent together (N at a time); payloads still print in send order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from httprecap.errors import HttprecapError, UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="invoke a Python function in the local Lambda sandbox",
        description="Run a Python function the way Lambda does (real awslambdaric, layers, "
        "extensions, freeze) and print each response payload on stdout, logs on stderr.")
    add_function_options(parser)
    parser.add_argument("--event", default="{}",
                        help="the event: JSON text, or @FILE to read it from a file "
                        "(default {})")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="invoke N times in the same (warm) environment (default 1)")
    parser.set_defaults(func=execute)


def add_function_options(parser: argparse.ArgumentParser) -> None:
    """The function's configuration, shared by `run` and `serve`."""
    parser.add_argument("--code", type=Path, required=True, metavar="DIR",
                        help="the function's code directory (plays /var/task)")
    parser.add_argument("--handler", required=True, metavar="MODULE.FUNCTION",
                        help="the handler, e.g. app.handler")
    parser.add_argument("--layer", type=Path, action="append", default=[],
                        metavar="ZIP_OR_DIR",
                        help="a layer (zip or directory), unpacked into /opt in the order given; "
                        "repeatable")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                        help="function timeout (default 3)")
    parser.add_argument("--memory", type=int, default=None, metavar="MB",
                        help="memory size, enforced on the environment's RSS (default 128; "
                        "with --max-concurrency 2048, the least Lambda Managed Instances allow)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a function environment variable; values starting with /opt/ "
                        "point into the sandbox's /opt; repeatable")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="do not SIGSTOP the processes between invocations")
    parser.add_argument("--no-telemetry", dest="telemetry", action="store_false",
                        help="answer Telemetry API subscriptions with 202 "
                        "Telemetry.NotSupported, as AWS SAM local and the runtime interface "
                        "emulator do")
    parser.add_argument("--max-concurrency", type=int, default=None, metavar="N",
                        help="Lambda Managed Instances mode: N invocations at once in one "
                        "environment (awslambdaric forks N workers; extensions get SHUTDOWN "
                        "only; nothing is frozen)")
    parser.add_argument("--log-format", choices=("text", "json"), type=str.lower, default=None,
                        help="the function's LoggingConfig LogFormat (default text; json with "
                        "--max-concurrency, the only format Lambda Managed Instances allow)")
    parser.add_argument("--application-log-level", default=None, metavar="LEVEL",
                        help="with --log-format json: drop the function's and extensions' "
                        "lines below trace, debug, info (default), warn, error or fatal")
    parser.add_argument("--system-log-level", default=None, metavar="LEVEL",
                        help="with --log-format json: drop the platform's lines below debug, "
                        "info (default) or warn")
    parser.add_argument("--tenant-id", default=None, metavar="ID",
                        help="a function in tenant-isolation mode: every invocation is for this "
                        "tenant, as Lambda tells the runtime and the Telemetry API")


def config_from_args(args: argparse.Namespace) -> Any:
    from httprecap.sandbox import FunctionConfig

    return FunctionConfig(code_dir=args.code, handler=args.handler, layers=list(args.layer),
                          env=parse_env(args.env), timeout_s=args.timeout,
                          memory_mb=args.memory, freeze=args.freeze,
                          max_concurrency=args.max_concurrency,
                          telemetry_supported=args.telemetry, log_format=args.log_format,
                          application_log_level=args.application_log_level,
                          system_log_level=args.system_log_level, tenant_id=args.tenant_id)


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def read_event(text: str) -> bytes:
    """The event as bytes, after checking it is JSON (Lambda refuses anything else)."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read the event file {text[1:]}: {exc.strerror}") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the event is not JSON: {exc}") from None
    return text.encode()


def print_log(line: Any) -> None:
    print(line.text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the sandbox's shutdown runs and nothing is left behind."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def describe_failure(result: Any) -> str:
    try:
        body = json.loads(result.payload)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = body.get("errorType") or result.error_type or result.status
    return f"{kind}: {body.get('errorMessage', '')}".rstrip(": ")


def execute(args: argparse.Namespace) -> int:
    from httprecap.sandbox import Sandbox
    from httprecap.sandbox.sandbox import result_of

    event = read_event(args.event)
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    failures = []
    with sigterm_as_interrupt(), Sandbox(config_from_args(args), on_log=print_log) as sandbox:
        if args.max_concurrency is None:
            results: Iterator[Any] = (sandbox.invoke(event) for _ in range(args.repeat))
        else:
            futures = [sandbox.invoke_async(event) for _ in range(args.repeat)]
            results = (result_of(future) for future in futures)
        for result in results:
            sys.stdout.buffer.write(result.payload + b"\n")
            sys.stdout.flush()
            if not result.ok:
                failures.append(result)
    if failures:
        raise HttprecapError(f"{len(failures)} of {args.repeat} invocation(s) failed; first: "
                             f"{describe_failure(failures[0])}")
    return 0
