"""Client versions the function brings itself: each set below is installed the way users
vendor dependencies (`pip install --target` into the function's code directory, which the
runtime puts first on sys.path, as /var/task on Lambda), and every call the function makes
through it must be recorded wire-exact (the wire-truth cases of test_wire_truth.py, under
fresh tags). One set also vendors an old wrapt and wraps its own handler with it.

Installs are cached under build/wire-matrix/, keyed by the pins and the interpreter, so only
a clean checkout downloads them (once, all sets at once).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wire_truth_support import (
    FUNCTIONS,
    Case,
    WireRun,
    WireServers,
    aiohttp_cases,
    botocore_cases,
    check_no_stray_calls,
    check_wire_exact,
    httpx_cases,
    requests_cases,
    run_cases,
    urllib3_cases,
    wire_servers,
)

pytestmark = pytest.mark.e2e

CACHE = Path(__file__).resolve().parents[2] / "build" / "wire-matrix"


@dataclass(frozen=True)
class Vendored:
    """A client set a function vendors: pins to install, the versions it must then run
    (module -> version), the function, and its cases."""

    pins: tuple[str, ...]
    runs: dict[str, str]
    cases: tuple[Case, ...]
    function: str = "wire"


def _fresh(*groups: list[Case]) -> tuple[Case, ...]:
    return tuple(case.again() for group in groups for case in group)


MATRIX = {
    "requests-2.28-urllib3-1.26": Vendored(
        ("requests==2.28.2", "urllib3==1.26.20"),
        {"requests": "2.28.2", "urllib3": "1.26.20"},
        _fresh(requests_cases(), urllib3_cases())),
    "requests-2.31-urllib3-2.0": Vendored(
        ("requests==2.31.0", "urllib3==2.0.7"),
        {"requests": "2.31.0", "urllib3": "2.0.7"},
        _fresh(requests_cases(), urllib3_cases())),
    "boto3-1.26-urllib3-1.26": Vendored(
        ("boto3==1.26.165", "urllib3==1.26.20"),
        {"botocore": "1.29.165", "urllib3": "1.26.20"},
        _fresh(botocore_cases())),
    "httpx-0.23": Vendored(
        ("httpx==0.23.3",), {"httpx": "0.23.3"},
        _fresh(httpx_cases("httpx"), httpx_cases("httpx.async"))),
    "httpx-0.29": Vendored(
        ("httpx==0.29.0",), {"httpx": "0.29.0"},
        _fresh(httpx_cases("httpx"), httpx_cases("httpx.async"))),
    # 3.8.6 is the last 3.8 release, and the first with wheels for Python 3.11.
    "aiohttp-3.8": Vendored(("aiohttp==3.8.6",), {"aiohttp": "3.8.6"}, _fresh(aiohttp_cases())),
    "aiohttp-3.14": Vendored(("aiohttp==3.14.5",), {"aiohttp": "3.14.5"},
                             _fresh(aiohttp_cases())),
    "own-wrapt-1.14": Vendored(("wrapt==1.14.1",), {"wrapt": "1.14.1"},
                               _fresh(requests_cases()), function="wrapt_user"),
}
CASES = [(name, case) for name, vendored in MATRIX.items() for case in vendored.cases]


def _install_dir(pins: tuple[str, ...]) -> Path:
    key = "\n".join([sys.version, sys.platform, *sorted(pins)])
    return CACHE / hashlib.sha256(key.encode()).hexdigest()[:16]


def _install(pins: tuple[str, ...]) -> Path:
    """`pip install --target` once per pin set; a finished install is renamed into place."""
    target = _install_dir(pins)
    if target.is_dir():
        return target
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-warn-conflicts", "--no-compile", "--only-binary", ":all:", "--target",
         str(partial), *pins], check=False, capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RuntimeError(f"pip install {' '.join(pins)} failed:\n{pip.stderr[-2000:]}")
    try:
        partial.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return target


@pytest.fixture(scope="module")
def vendored() -> dict[str, Path]:
    """Every set's install directory (all installed at once, in parallel)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(len(MATRIX)) as pool:
        dirs = dict(zip(MATRIX, pool.map(_install, (v.pins for v in MATRIX.values())),
                        strict=True))
    return dirs


def _code_dir(name: str, packages: Path, parent: Path) -> Path:
    """The function's code with the vendored packages beside it (linked, not copied)."""
    code = parent / name
    code.mkdir()
    shutil.copy(FUNCTIONS / "wire" / "wire_steps.py", code)
    shutil.copy(FUNCTIONS / MATRIX[name].function / "app.py", code)
    for entry in packages.iterdir():
        if entry.name not in ("bin", "__pycache__"):
            (code / entry.name).symlink_to(entry)
    return code


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireServers]:
    yield from wire_servers(tmp_path_factory.mktemp("matrix-cert"))


@pytest.fixture(scope="module")
def run_of(layer_zip: Path, servers: WireServers, vendored: dict[str, Path],
           tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], WireRun]:
    """A set's run, made the first time a test asks for it."""
    runs: dict[str, WireRun] = {}
    parent = tmp_path_factory.mktemp("matrix")

    def run(name: str) -> WireRun:
        if name not in runs:
            code = _code_dir(name, vendored[name], parent)
            runs[name] = run_cases(layer_zip, code, servers, list(MATRIX[name].cases),
                                   parent / f"{name}.jsonl")
        return runs[name]

    return run


def _payloads(run: WireRun) -> list[dict[str, Any]]:
    assert all(invocation.ok for invocation in run.invocations), \
        [invocation.payload for invocation in run.invocations]
    return run.payloads


@pytest.mark.parametrize("name", MATRIX)
def test_function_runs_its_vendored_versions(run_of: Callable[[str], WireRun],
                                             name: str) -> None:
    for payload in _payloads(run_of(name)):
        for module, version in MATRIX[name].runs.items():
            if module in payload["modules"]:
                found_version, file = payload["modules"][module]
                assert found_version == version
                assert f"/{name}/{module}/" in file, file
    loaded = {module for payload in run_of(name).payloads for module in payload["modules"]}
    assert set(MATRIX[name].runs) - {"wrapt"} <= loaded


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{c.id}" for n, c in CASES])
def test_recap_call_is_wire_exact(run_of: Callable[[str], WireRun], servers: WireServers,
                                  name: str, case: Case) -> None:
    check_wire_exact(run_of(name), case, servers)


@pytest.mark.parametrize("name", MATRIX)
def test_recaps_hold_no_call_beyond_the_cases(run_of: Callable[[str], WireRun],
                                              name: str) -> None:
    check_no_stray_calls(run_of(name))


def test_own_old_wrapt_wraps_the_handler_beside_the_layer(
        run_of: Callable[[str], WireRun]) -> None:
    for payload in _payloads(run_of("own-wrapt-1.14")):
        assert payload["wrappedBy"][-1] == "handler"
        assert payload["wraptVersion"] == "1.14.1"
        assert "/own-wrapt-1.14/wrapt/" in payload["wraptFile"]
