"""Start-up cost: what loading the internal extension adds to a runtime process that imports
requests and boto3 (budget: 10 ms), and that it imports none of the clients it patches."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = f"{sys.version_info.major}{sys.version_info.minor}"

PROBE = """
import json, sys, time
sys.path.insert(0, LIB)
import awslambdaric.bootstrap, boto3, requests
if PRELOAD_WRAPT:
    import wrapt
before = set(sys.modules)
started = time.perf_counter()
from httprecap.internal import bootstrap
bootstrap.install({"HTTPRECAP_PORT": "9"})
elapsed_ms = (time.perf_counter() - started) * 1000
print(json.dumps({"ms": elapsed_ms, "new": sorted(set(sys.modules) - before)}))
"""


def _vendor_wrapt(package: Path) -> bool:
    """The layer's wrapt C module, from the layer builder's wheel cache when it is there."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    wheels = sorted((cache / "httprecap" / "wheels").glob(f"wrapt-1.17.3-cp{TAG}-*x86_64*.whl"))
    if not wheels or os.uname().machine != "x86_64":
        return False
    member = f"wrapt/_wrappers.cpython-{TAG}-x86_64-linux-gnu.so"
    target = package / "_vendor" / "wrapt"
    target.mkdir(parents=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        (target / Path(member).name).write_bytes(wheel.read(member))
    return True


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """The layer's library folder with bytecode, as the layer ships it."""
    lib = tmp_path_factory.mktemp("lib")
    package = lib / "httprecap"
    shutil.copytree(ROOT / "core", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "internal", package / "internal",
                    ignore=shutil.ignore_patterns("__pycache__"))
    vendored = _vendor_wrapt(package)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(lib)], check=True,
                   capture_output=True)
    return lib, vendored


def _probe(lib: Path, vendored: bool) -> dict[str, object]:
    code = PROBE.replace("LIB", repr(str(lib))).replace("PRELOAD_WRAPT", str(not vendored))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_loading_adds_nothing_but_httprecap_modules(lib: tuple[Path, bool]) -> None:
    new = _probe(*lib)["new"]
    assert isinstance(new, list)
    assert [name for name in new if not name.startswith("httprecap")] == []


def test_loading_costs_less_than_10_ms(lib: tuple[Path, bool]) -> None:
    # Without the vendored C module (no cached wheel) the installed wrapt is preloaded and the
    # vendored module's ~1 ms is not counted.
    fastest = min(float(str(_probe(*lib)["ms"])) for _ in range(5))
    assert fastest < 10.0


def test_install_imports_none_of_the_clients_it_patches() -> None:
    code = ("import sys; from httprecap.internal import bootstrap; "
            "bootstrap.install({'HTTPRECAP_PORT': '9'}); "
            "print(sorted(m for m in ('requests', 'urllib3', 'botocore', 'http.client', "
            "'awslambdaric', 'httpx', 'aiohttp') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_captures_name_the_modules_their_capture_modules_target() -> None:
    from httprecap.internal import bootstrap
    from httprecap.internal.capture import botocore, http_client, requests, urllib3, urllib_request

    targets = {module: (capture, patch) for module, capture, patch in bootstrap.CAPTURES}
    targets |= {module: (capture, wrapper)
                for module, _, _, capture, wrapper, _ in bootstrap.ON_FIRST_CALL}
    assert targets[requests.MODULE] == ("requests", "patch")
    assert targets[urllib3.POOL_MODULE] == ("urllib3", "patch_pool")
    assert targets[urllib3.MANAGER_MODULE] == ("urllib3", "patch_manager")
    assert targets[http_client.MODULE] == ("http_client", "on_request")
    assert targets[urllib_request.MODULE] == ("urllib_request", "on_open")
    assert targets[botocore.MODULE] == ("botocore", "patch")
    for capture, patch in targets.values():
        module = __import__(f"httprecap.internal.capture.{capture}", fromlist=[patch])
        assert callable(getattr(module, patch))
    for *_, capture, _, rest in bootstrap.ON_FIRST_CALL:
        if rest is not None:
            module = __import__(f"httprecap.internal.capture.{capture}", fromlist=[rest])
            assert callable(getattr(module, rest))


LAZY_PROBE = """
import sys
sys.path.insert(0, LIB)
from httprecap.internal import bootstrap
bootstrap.install({"HTTPRECAP_PORT": "9"})
watched = ("socket", "selectors", "typing", "json", "httprecap.redact",
           "httprecap.internal.transport.encode", "httprecap.internal.capture.requests",
           "httprecap.internal.capture.urllib3", "httprecap.internal.capture.http_client",
           "httprecap.internal.capture.botocore", "httprecap.internal.capture.reading",
           "httprecap.internal.capture.urllib3_body", "httprecap.internal.capture.sending")
print(sorted(name for name in watched if name in sys.modules))
import requests
print(sorted(name for name in watched[6:] if name in sys.modules))
print(getattr(requests.Session.send, "__wrapped__", None) is not None)
"""


def test_a_capture_module_loads_with_its_client_and_the_sender_s_with_its_first_post(
        lib: tuple[Path, bool]) -> None:
    code = LAZY_PROBE.replace("LIB", repr(str(lib[0])))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    before, after, patched = done.stdout.strip().splitlines()
    # typing still comes with other internal modules (capture/, transport/): listed to see it.
    assert [name for name in ast.literal_eval(before) if name != "typing"] == []
    # http.client came with urllib3, yet its capture waits for a call through it; so do the
    # modules that follow a body read after its call and count a streamed upload.
    assert ast.literal_eval(after) == ["httprecap.internal.capture.requests",
                                       "httprecap.internal.capture.urllib3"]
    assert patched == "True"


SYNC_PROBE = """
import inspect, os, sys
sys.path.insert(0, LIB)
from httprecap.internal import bootstrap
bootstrap.install({"HTTPRECAP_PORT": "9"})
import boto3, requests, urllib.request
print(sorted(name for name in sys.modules if "wrapt" in name))
print(inspect.signature(os._exit), type(os._exit.__wrapped__).__name__)
"""


def test_a_process_with_synchronous_clients_only_never_loads_wrapt(
        lib: tuple[Path, bool]) -> None:
    code = SYNC_PROBE.replace("LIB", repr(str(lib[0])))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded, exit_seen = done.stdout.strip().splitlines()
    assert loaded == "[]"
    # os._exit is wrapped by a plain function that still says what it wraps.
    assert exit_seen == "(status) builtin_function_or_method"
