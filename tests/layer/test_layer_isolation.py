"""Vendored wrapt: our `_wrappers` and a user's own wrapt load side by side, unaware of each other.

Each check runs in a fresh interpreter whose path holds the unpacked layer's lib folder and a
user's wrapt: the one installed in this venv (2.x) and an older 1.x installed for the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

OLD_USER_WRAPT = "1.16.0"

# Imports ours first, then the user's, and uses both on the same function.
_SCRIPT = """
import json, sys
sys.path[:0] = sys.argv[1:]
before = set(sys.modules)
from httprecap._vendor.wrapt import _wrappers as ours
ours_loaded = sorted(set(sys.modules) - before)
import wrapt

def add(a, b):
    return a + b

def ours_wrapper(wrapped, instance, args, kwargs):
    return wrapped(*args, **kwargs) * 10

@wrapt.decorator
def theirs_wrapper(wrapped, instance, args, kwargs):
    return wrapped(*args, **kwargs) + 1

both = theirs_wrapper(ours.FunctionWrapper(add, ours_wrapper))
print(json.dumps({
    "ours_file": ours.__file__, "ours_loaded": ours_loaded,
    "theirs_version": wrapt.__version__, "theirs_file": wrapt.__file__,
    "distinct": ours.FunctionWrapper is not wrapt.FunctionWrapper,
    "result": both(1, 2),
}))
"""


@pytest.fixture(scope="module")
def old_wrapt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("user-wrapt")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--only-binary=:all:", "--target",
                    str(target), f"wrapt=={OLD_USER_WRAPT}"], check=True, capture_output=True)
    return target


def _run(lib: Path, *extra_paths: Path) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", _SCRIPT, str(lib), *map(str, extra_paths)],
                            capture_output=True, text=True, check=True)
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_ours_loads_under_its_private_name_and_imports_nothing_else(
        unpacked_layer: Path) -> None:
    found = _run(unpacked_layer / "httprecap/lib")
    assert str(found["ours_file"]).startswith(str(unpacked_layer))
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    assert f"_wrappers.{tag}-" in str(found["ours_file"])
    assert found["ours_loaded"] == ["httprecap", "httprecap._vendor", "httprecap._vendor.wrapt",
                                    "httprecap._vendor.wrapt._wrappers"]


def test_users_newer_wrapt_is_untouched(unpacked_layer: Path) -> None:
    import wrapt

    found = _run(unpacked_layer / "httprecap/lib")
    assert found["theirs_version"] == wrapt.__version__
    assert not str(found["theirs_file"]).startswith(str(unpacked_layer))
    assert found["distinct"] is True
    assert found["result"] == 31  # ours multiplies by ten, theirs adds one: both ran


def test_users_older_wrapt_is_untouched(unpacked_layer: Path, old_wrapt: Path) -> None:
    found = _run(unpacked_layer / "httprecap/lib", old_wrapt)
    assert found["theirs_version"] == OLD_USER_WRAPT
    assert str(found["theirs_file"]).startswith(str(old_wrapt))
    assert found["distinct"] is True
    assert found["result"] == 31
