"""Runs mypy over the httprecap package as it is installed: a tree of symlinks under
build/typecheck maps each top-level folder to its subpackage (see setup.PACKAGE_DIRS),
because mypy names modules by their place on disk. The conformance harness (dev tooling, its own
top-level package) is checked with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from setup import PACKAGE_DIRS  # noqa: E402


def build_tree() -> Path:
    tree = ROOT / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    for package, folder in sorted(PACKAGE_DIRS.items()):
        target = tree.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in (ROOT / folder).iterdir():
            if entry.name != "__pycache__" and not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    return tree


def main() -> int:
    tree = build_tree()
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
               str(tree / "httprecap"), str(ROOT / "conformance")]
    return subprocess.call(command, cwd=tree)


if __name__ == "__main__":
    sys.exit(main())
