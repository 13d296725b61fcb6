"""Start-up cost: what loading the internal extension adds to a runtime process that imports
requests and boto3 (budget: 10 ms), and that it imports none of the clients it patches."""

from __future__ import annotations

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
