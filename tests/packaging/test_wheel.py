"""The built wheel holds every subpackage under the single top-level `httprecap` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from setup import PACKAGE_DIRS  # noqa: E402


def _source_packages() -> set[str]:
    found = set()
    for package, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base)
            found.add(".".join([package, *relative.parts]) if relative.parts else package)
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT, check=True, capture_output=True,
    )
    (path,) = out.glob("httprecap-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_contains_every_subpackage(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    missing = {p for p in _source_packages() if p.replace(".", "/") + "/__init__.py" not in names}
    assert not missing, f"subpackages missing from the wheel: {sorted(missing)}"


def test_wheel_has_only_the_httprecap_top_level(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist() if ".dist-info" not in name}
    assert tops == {"httprecap"}


def test_console_script_is_declared(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "httprecap = httprecap.cli.main:main" in wheel.read(entry_points).decode()
