"""Bench: what this checkout's capture costs per call against another version's, in one process
(dev-time; no sandbox, no sockets on the call path).

A change of a few per cent in the capture's cost cannot be told from a machine's noise by
timing real calls: a loopback call costs 20 to 50 times what the capture adds, and swings by
more (bench/micro.py). Here urllib3's ``_make_request`` answers from memory, so a call is the
client's own Python plus the capture. Each round times three blocks of calls, in rotating order:
(a) nothing installed, (b) the other version's internal extension, (c) this checkout's; each
block ends by flushing the sender, so its thread's work is counted. The difference (c) - (b) is
taken round by round, which cancels what the machine did meanwhile; its median is the change.

The other version is any git ref of this repository. Both are laid out as the layer lays its
packages out (layer/build.py `collect_sources`) in a scratch folder, and each is imported in
turn (httprecap's modules are dropped from ``sys.modules`` between blocks).

    .venv/bin/python -m bench.versus REF [--rounds 40] [--block 400] [--clients requests,urllib3]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import host
from bench.micro import CLIENTS, calls_to, flush_sender, timed_block
from bench.servers import Servers
from bench.stats import Summary, differences, rotated

REPOSITORY = Path(__file__).resolve().parent.parent
BODY = b'{"items": [1, 2, 3, 4]}'
UNUSED_PORT = 9  # (discard: the clients' calls never reach it)
PACKAGE = "httprecap/lib/"  # where the layer's package tree starts (layer/build.py LIB)
VERSIONS = ("none", "other", "this")
METRICS = ("cpu", "caller")


def lay_out(source: Path, into: Path) -> Path:
    """The runtime packages of the checkout at `source`, laid out under `into` as the layer
    lays them out; returns the folder to put on ``sys.path``."""
    from httprecap.layer.build import collect_sources

    for name, data in collect_sources(source).items():
        if name.startswith(PACKAGE):
            target = into / name[len(PACKAGE):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return into


def checkout(ref: str, into: Path) -> Path:
    """The files of `ref` (``git archive``) in `into`."""
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", "--format=tar", ref],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # (Python 3.11.4 and later)
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)  # (this repository's own archive)
    return into


class Versions:
    """Imports one version of the httprecap package or the other; on leaving, the process has
    the httprecap it had before (the same module objects) and its own ``sys.path``."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = {name: str(root) for name, root in roots.items()}
        self._saved: dict[str, Any] = {}
        self._path: list[str] = []

    def __enter__(self) -> Versions:
        self._saved = {key: module for key, module in sys.modules.items()
                       if key.split(".")[0] == "httprecap"}
        self._path = list(sys.path)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _forget_httprecap()
        sys.modules.update(self._saved)
        sys.path[:] = self._path

    def load(self, name: str) -> Any:
        """`name`'s ``httprecap.internal.bootstrap``, freshly imported."""
        _forget_httprecap()
        sys.path[:] = [self.roots[name], *self._path]
        importlib.invalidate_caches()
        bootstrap = importlib.import_module("httprecap.internal.bootstrap")
        if not str(bootstrap.__file__).startswith(self.roots[name]):
            raise RuntimeError(f"httprecap came from {bootstrap.__file__}, not {name}'s tree")
        return bootstrap


def _forget_httprecap() -> None:
    for key in [key for key in sys.modules if key.split(".")[0] == "httprecap"]:
        del sys.modules[key]


@contextlib.contextmanager
def answered_from_memory() -> Iterator[None]:
    """Inside, urllib3's pools answer every request at once, with a small JSON body."""
    from urllib3.connectionpool import HTTPConnectionPool
    from urllib3.response import HTTPResponse

    def make_request(self: Any, conn: Any, method: str, url: str, **kwargs: Any) -> Any:
        return HTTPResponse(body=io.BytesIO(BODY), headers={"Content-Length": str(len(BODY))},
                            status=200, preload_content=kwargs.get("preload_content", True),
                            decode_content=kwargs.get("decode_content", True),
                            request_method=method, request_url=url,
                            retries=kwargs.get("retries"),
                            connection=kwargs.get("response_conn"))

    original = HTTPConnectionPool.__dict__["_make_request"]
    HTTPConnectionPool._make_request = make_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        HTTPConnectionPool._make_request = original  # type: ignore[method-assign]


def measure(versions: Versions, call: Callable[[], object], port: int, *, rounds: int,
            block: int, collect: bool = True) -> dict[str, dict[str, list[float]]]:
    """µs per call of each version's blocks, minus the same round's bare block."""
    found: dict[str, dict[str, list[float]]] = {name: {m: [] for m in METRICS}
                                                for name in VERSIONS[1:]}
    for number in range(rounds + 1):  # round 0 warms every version up, untimed
        timed: dict[str, dict[str, float]] = {}
        for name in rotated(list(VERSIONS), number):
            timed[name] = _timed(versions, name, call, port, block=block, collect=collect)
        if number:
            for name in VERSIONS[1:]:
                for metric in METRICS:
                    found[name][metric].append(
                        (timed[name][metric] - timed["none"][metric]) / block * 1e6)
    return found


def _timed(versions: Versions, name: str, call: Callable[[], object], port: int, *,
           block: int, collect: bool) -> dict[str, float]:
    if name == "none":
        call()
        return _block(call, block, lambda: None, collect)
    bootstrap = versions.load(name)
    bootstrap.install({"HTTPRECAP_PORT": str(port)})
    try:
        call()  # first use (the sender's connection and hello) left out
        flush_sender(bootstrap)
        return _block(call, block, lambda: flush_sender(bootstrap), collect)
    finally:
        bootstrap.uninstall()


def _block(call: Callable[[], object], block: int, flush: Callable[[], object],
           collect: bool) -> dict[str, float]:
    """`timed_block`; with `collect` False, the cyclic garbage collector runs before the block
    and not during it (a full collection lands in one block or another, by chance, and costs
    more than a boto3 call: steadier, but what the capture costs the collector is left out)."""
    if collect:
        return timed_block(call, block, flush)
    gc.collect()
    gc.disable()
    try:
        return timed_block(call, block, flush)
    finally:
        gc.enable()


def compare(ref: str, clients: Sequence[str], scratch: Path, *, rounds: int, block: int,
            collect: bool = True) -> dict[str, dict[str, dict[str, list[float]]]]:
    """`measure` for each of `clients`: this checkout against `ref` (laid out in `scratch`)."""
    roots = {"other": lay_out(checkout(ref, scratch / "src"), scratch / "other"),
             "this": lay_out(REPOSITORY, scratch / "this")}
    with Servers() as servers, Versions(roots) as versions, answered_from_memory():
        calls = calls_to(UNUSED_PORT)  # (answered from memory: nothing leaves the process)
        port = servers.ports["collector"]
        return {client: measure(versions, calls[client], port, rounds=rounds, block=block,
                                collect=collect)
                for client in clients}


def table(ref: str, found: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    lines = [f"| client | {ref} adds, CPU µs | this checkout adds, CPU µs | change (median of "
             "rounds) | of it, in the caller's thread |", "|---|---:|---:|---:|---:|"]
    for client, by_version in found.items():
        other, this = by_version["other"], by_version["this"]
        change = differences(this["cpu"], other["cpu"])
        caller = differences(this["caller"], other["caller"])
        base = Summary.of(other["cpu"]).median
        share = f" ({change.median / base:+.1%})" if base > 0 else ""
        lines.append(f"| {client} | {Summary.of(other['cpu']).text(2)} | "
                     f"{Summary.of(this['cpu']).text(2)} | {change.median:+.2f} µs{share} | "
                     f"{caller.median:+.2f} µs |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the version to compare with (a commit, tag or branch)")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=400)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--no-gc", action="store_true",
                        help="collect garbage between blocks, not during them (steadier)")
    host.add_pin_option(parser)
    args = parser.parse_args(argv)
    clients = [name for name in args.clients.split(",") if name]
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown:
        parser.error(f"unknown client(s) {', '.join(unknown)}; choose from {', '.join(CLIENTS)}")
    host.pin_unless(args)
    with tempfile.TemporaryDirectory() as scratch:
        found = compare(args.ref, clients, Path(scratch), rounds=args.rounds,
                        block=args.block, collect=not args.no_gc)
    garbage = ", the garbage collector off during blocks" if args.no_gc else ""
    print(f"Per call, {args.rounds} rounds of {args.block} calls answered from memory"
          f"{garbage}:\n")
    print(table(args.ref, found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
