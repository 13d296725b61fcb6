"""The layer's code works on every Python Lambda offers (3.10 to 3.14) that this machine has.

For each interpreter, from the built layer's own files: the internal extension installs,
captures a real call to a loopback server and delivers a valid batch to a collector, and the
vendored wrapt C module loads (async clients' captures need it); and the
extension's entry module imports in an isolated interpreter (`-I -S`, as its launcher runs it).
"""

from __future__ import annotations

import json
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from httprecap.layer.build import build_layer
from httprecap.layer.bytecode import Interpreter, find_interpreters
from httprecap.wire import validate_batch

INTERPRETERS = find_interpreters()

CAPTURE = """
import http.server, json, sys, threading, urllib.request
sys.path.insert(0, sys.argv[1])
from httprecap.internal import bootstrap
assert bootstrap.install({"HTTPRECAP_PORT": sys.argv[2]})
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    urllib.request.urlopen("http://127.0.0.1:%d/missing?token=s3cret" % server.server_port)
except Exception as exc:
    print(type(exc).__name__)
assert bootstrap.sender().flush(5.0)
print("wrapt for a synchronous client:", any("wrapt" in name for name in sys.modules))
from httprecap.internal import patching
patching.function_wrapper_class()  # what an async client's capture loads
print("vendored C wrapt:", "httprecap._vendor.wrapt._wrappers" in sys.modules)
print("top-level wrapt:", "wrapt" in sys.modules)
"""


class _Collector(BaseHTTPRequestHandler):
    batches: list[Any] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.batches.append(json.loads(body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        pass


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layer")
    zipfile.ZipFile(build_layer(root / "layer.zip").path).extractall(root / "opt")
    return root / "opt" / "httprecap" / "lib"


@pytest.fixture
def collector() -> Iterator[tuple[int, list[Any]]]:
    _Collector.batches = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], _Collector.batches
    server.shutdown()
    server.server_close()


def test_at_least_the_oldest_lambda_python_is_checked() -> None:
    assert "3.10" in [interpreter.version for interpreter in INTERPRETERS]


@pytest.mark.parametrize("interpreter", INTERPRETERS, ids=lambda i: f"python{i.version}")
def test_internal_extension_captures_and_delivers(
        interpreter: Interpreter, lib: Path, collector: tuple[int, list[Any]]) -> None:
    port, batches = collector
    done = subprocess.run([str(interpreter.path), "-I", "-c", CAPTURE, str(lib), str(port)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "HTTPError" in done.stdout
    assert "wrapt for a synchronous client: False" in done.stdout
    assert "vendored C wrapt: True" in done.stdout
    assert "top-level wrapt: False" in done.stdout
    messages = [message for batch in batches for message in validate_batch(batch)]
    (call,) = [message["call"] for message in messages if message["k"] == "call"]
    assert (call["library"], call["status"], call["path"]) == ("http.client", 404, "/missing")
    assert "s3cret" not in json.dumps(batches)


@pytest.mark.parametrize("interpreter", INTERPRETERS, ids=lambda i: f"python{i.version}")
def test_extension_imports_in_an_isolated_interpreter(interpreter: Interpreter, lib: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import httprecap.external.main; "
            "print(sorted(m for m in sys.modules if m.startswith('httprecap.internal')))")
    done = subprocess.run([str(interpreter.path), "-I", "-S", "-c", code, str(lib)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
