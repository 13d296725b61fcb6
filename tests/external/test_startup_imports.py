"""Start-up budget: the extension must be ready (in its first /extension/event/next) within
60 ms of launch, so nothing heavy may be imported on the way there.

Both tests run a fresh `python -I -S` on the layer's lib folder, as the launcher does:
`dataclasses` (which imports `inspect`, `ast` and `dis`) and `typing` cost tens of
milliseconds there, `http.client`/`email`/`ssl` more; `json` (with the `re` it compiles)
waits until the first /event/next is on the wire. `bench/extension_ship.py` measures the
time itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from layer_support import free_port

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dataclasses", "inspect", "ast", "dis", "typing", "contextlib", "email", "http",
         "ssl", "urllib", "datetime", "json", "re", "socket", "enum", "selectors",
         "httprecap.redact", "httprecap.internal")

# Runs `main()` against a stand-in Extensions API built from modules the extension loads
# anyway, and prints which HEAVY modules are loaded once the first /event/next is sent: the
# moment the client hands over to its warm-up (which loads json on purpose), observed there
# because the stand-in, in the same process, would race with it.
READY_PROBE = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from httprecap.external.http11 import accept, listen
HEAVY = sys.argv[2].split(",")
listener = listen("127.0.0.1", 0, 8)

def serve(sock):
    data = b""
    while True:
        while b"\\r\\n\\r\\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, data = data.partition(b"\\r\\n\\r\\n")
        length = 0
        for line in head.split(b"\\r\\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(data) < length:
            data += sock.recv(65536)
        data, start = data[length:], head.split(b"\\r\\n")[0]
        body, extra = b"{}", ""
        if b"/register" in start:
            body = b'{"functionName": "f", "functionVersion": "1", "handler": "h"}'
            extra = "Lambda-Extension-Identifier: 6f0b7c52-0c43-4c8e-9d8d-8f1c0c2b8d1e\\r\\n"
        elif b"/event/next" in start:
            body = b'{"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 0}'
        sock.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n%s\\r\\n"
                     % (len(body), extra.encode()) + body)

def accept_all():
    while True:
        threading.Thread(target=serve, args=(accept(listener),), daemon=True).start()

threading.Thread(target=accept_all, daemon=True).start()
import os
os.environ["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:%d" % listener.getsockname()[1]
from httprecap.external.lambda_api.extensions import ExtensionsClient
warm_up = ExtensionsClient._run_while_waiting

def observed(client):
    if client.while_waiting is not None:
        print(",".join(sorted(name for name in HEAVY if name in sys.modules)), flush=True)
    warm_up(client)

ExtensionsClient._run_while_waiting = observed
from httprecap.external.main import main
sys.exit(main("httprecap"))
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer's lib folder (httprecap/lib), symlinked to the source folders."""
    root = tmp_path_factory.mktemp("lib")
    package = root / "httprecap"
    package.mkdir()
    for entry in (ROOT / "core").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "external").symlink_to(ROOT / "external")
    return root


def _isolated(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, *args], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_run_loop_loads_no_heavy_module(lib: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "import httprecap.external.main; "
            "print(','.join(sorted(m for m in sys.argv[2].split(',') if m in sys.modules)))")
    assert _isolated(code, str(lib), ",".join(HEAVY)).strip() == ""


def test_nothing_heavy_is_loaded_before_the_first_event_next(lib: Path) -> None:
    env = {"HTTPRECAP_PORT": str(free_port()), "HTTPRECAP_TELEMETRY_PORT": str(free_port()),
           "HTTPRECAP_SINKS": "stdout", "PATH": "/usr/bin:/bin"}
    output = _isolated(READY_PROBE, str(lib), ",".join(HEAVY), env=env)
    assert output.splitlines()[0] == ""
