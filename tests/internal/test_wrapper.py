"""The exec wrapper and sitecustomize, run as Lambda runs them: `httprecap-wrapper python ...`.

A layer root is assembled in a temp dir from wrapper/ and the source packages, laid out as
the built layer is (httprecap-wrapper, httprecap/boot, httprecap/lib/httprecap)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, subprocess, sys
boot = sys.modules.get("httprecap.internal.bootstrap")
child = subprocess.run([sys.executable, "-c", "import sys; print('httprecap' in sys.modules)"],
                       capture_output=True, text=True)
print(json.dumps({
    "sys_path": sys.path,
    "pythonpath": os.environ.get("PYTHONPATH"),
    "markers": sorted(k for k in os.environ if k.startswith("_HTTPRECAP")),
    "installed": boot is not None and boot.sender() is not None,
    "httprecap_file": getattr(sys.modules.get("httprecap"), "__file__", None),
    "sitecustomize": getattr(sys.modules.get("sitecustomize"), "__file__", None),
    "user_sitecustomize": os.environ.get("USER_SITECUSTOMIZE"),
    "child_loaded": child.stdout.strip(),
    "next_wrapper": os.environ.get("NEXT_WRAPPER_RAN"),
}))
"""


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layer")
    shutil.copy2(ROOT / "wrapper" / "httprecap-wrapper", root / "httprecap-wrapper")
    (root / "httprecap" / "boot").mkdir(parents=True)
    shutil.copy2(ROOT / "wrapper" / "sitecustomize.py", root / "httprecap" / "boot")
    package = root / "httprecap" / "lib" / "httprecap"
    package.mkdir(parents=True)
    for entry in (ROOT / "core").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for folder in ("internal", "external"):
        (package / folder).symlink_to(ROOT / folder)
    return root


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A PYTHONPATH directory of the user's, with its own sitecustomize."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os\nos.environ['USER_SITECUSTOMIZE'] = 'ran'\n")
    return tmp_path


def _environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("HTTPRECAP_", "_HTTPRECAP")) and k != "PYTHONPATH"}
    environ["HTTPRECAP_PORT"] = "9"  # nothing listens: the probe must not depend on it
    environ.update(extra)
    return environ


def _probe(command: list[str], environ: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([*command, sys.executable, "-c", PROBE], env=environ,
                          capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _wrapped(layer: Path, **extra: str) -> dict[str, Any]:
    return _probe([str(layer / "httprecap-wrapper")], _environ(**extra))


def _bare(**extra: str) -> dict[str, Any]:
    return _probe([], _environ(**extra))


def test_wrapper_loads_us_from_the_layer_and_leaves_no_trace(layer: Path) -> None:
    wrapped, bare = _wrapped(layer), _bare()
    assert wrapped["installed"]
    assert wrapped["httprecap_file"].startswith(str(layer))
    assert wrapped["sys_path"] == bare["sys_path"]
    assert wrapped["pythonpath"] is None and wrapped["markers"] == []
    assert wrapped["child_loaded"] == "False"


def test_users_pythonpath_is_kept_and_their_sitecustomize_chained(layer: Path,
                                                                  user_dir: Path) -> None:
    wrapped = _wrapped(layer, PYTHONPATH=str(user_dir))
    bare = _bare(PYTHONPATH=str(user_dir))
    assert wrapped["installed"]
    assert wrapped["pythonpath"] == str(user_dir)
    assert wrapped["sys_path"] == bare["sys_path"]
    assert wrapped["sitecustomize"] == str(user_dir / "sitecustomize.py")
    assert wrapped["user_sitecustomize"] == "ran"
    assert wrapped["child_loaded"] == "False"


def test_empty_pythonpath_stays_set_and_empty(layer: Path) -> None:
    assert _wrapped(layer, PYTHONPATH="")["pythonpath"] == ""


def test_disabled_is_a_pure_exec(layer: Path) -> None:
    wrapped = _wrapped(layer, HTTPRECAP_DISABLED="true")
    assert not wrapped["installed"] and wrapped["httprecap_file"] is None
    assert wrapped["pythonpath"] is None and wrapped["sys_path"] == _bare()["sys_path"]


def _next_wrapper(tmp_path: Path) -> str:
    script = tmp_path / "next-wrapper"
    script.write_text('#!/bin/sh\nexport NEXT_WRAPPER_RAN=1\nexec "$@"\n')
    script.chmod(0o755)
    return str(script)


def test_next_wrapper_is_chained(layer: Path, tmp_path: Path) -> None:
    wrapped = _wrapped(layer, HTTPRECAP_NEXT_WRAPPER=_next_wrapper(tmp_path))
    assert wrapped["next_wrapper"] == "1" and wrapped["installed"]


def test_next_wrapper_is_chained_when_disabled(layer: Path, tmp_path: Path) -> None:
    wrapped = _wrapped(layer, HTTPRECAP_NEXT_WRAPPER=_next_wrapper(tmp_path),
                       HTTPRECAP_DISABLED="1")
    assert wrapped["next_wrapper"] == "1" and not wrapped["installed"]


def test_subprocesses_are_captured_on_request(layer: Path) -> None:
    wrapped = _wrapped(layer, HTTPRECAP_CAPTURE_SUBPROCESSES="1")
    assert wrapped["installed"] and wrapped["child_loaded"] == "True"
    # PYTHONPATH stays set, so the runtime's bootstrap.py skips the layer paths: we add them,
    # in its order.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = layer / "python"
    # (sys.path[0] is the script's directory, inserted by Python after site ran.)
    assert wrapped["sys_path"][1:3] == [str(python / "lib" / version / "site-packages"),
                                       str(python)]


def test_isolated_interpreter_never_loads_us(layer: Path) -> None:
    # The external extension's launcher runs `python -I -S`.
    done = subprocess.run(
        [str(layer / "httprecap-wrapper"), sys.executable, "-I", "-S", "-c",
         "import sys; print('httprecap' in sys.modules)"],
        env=_environ(), capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def _broken_layer(layer: Path, root: Path, broken: str) -> Path:
    """A copy of `layer` whose module `broken` (a path under the package) raises on import."""
    shutil.copytree(layer, root, symlinks=True)
    package = root / "httprecap" / "lib" / "httprecap"
    internal = package / "internal"
    internal.unlink()
    shutil.copytree(ROOT / "internal", internal,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (package / broken).unlink()
    (package / broken).write_text(
        'raise RuntimeError("broken at https://x.example/?token=abc123")\n')
    return root


def _start_broken(root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "httprecap-wrapper"), sys.executable, "-c", "print('handler ran')"],
        env=_environ(**extra), capture_output=True, text=True, timeout=60, check=True)


@pytest.mark.parametrize(("broken", "expected"), [
    ("__init__.py", "httprecap: debug: sitecustomize.import failed open: RuntimeError"),
    ("internal/bootstrap.py", "httprecap: debug: sitecustomize.install failed open: "
                              "RuntimeError: broken at https://x.example/?token=REDACTED "
                              "(raised in <module>)"),
])
def test_a_failed_start_is_logged_at_debug_and_the_function_runs(
        layer: Path, tmp_path: Path, broken: str, expected: str) -> None:
    root = _broken_layer(layer, tmp_path / "layer", broken)
    done = _start_broken(root, HTTPRECAP_LOG_LEVEL="debug")
    assert done.stdout == "handler ran\n"
    assert done.stderr.splitlines() == [expected]


def test_a_failed_start_is_silent_at_the_default_level(layer: Path, tmp_path: Path) -> None:
    root = _broken_layer(layer, tmp_path / "layer", "internal/bootstrap.py")
    done = _start_broken(root)
    assert (done.stdout, done.stderr) == ("handler ran\n", "")
