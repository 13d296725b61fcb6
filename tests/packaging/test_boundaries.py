"""Import boundaries between the processes: the layout's promises, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = (
    "httprecap.layer", "httprecap.sandbox", "httprecap.view", "httprecap.cli", "httprecap.demo",
)


def _imports(folder: str) -> list[tuple[Path, str]]:
    found = []
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def _offending(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}: {name}" for path, name in _imports(folder)
            if name.startswith(forbidden)]


@pytest.mark.parametrize("folder", ["core", "internal", "external"])
def test_layer_code_never_imports_dev_tools(folder: str) -> None:
    assert _offending(folder, DEV_ONLY) == []


def test_internal_and_external_do_not_import_each_other() -> None:
    assert _offending("internal", ("httprecap.external",)) == []
    assert _offending("external", ("httprecap.internal",)) == []


def test_core_imports_only_the_standard_library() -> None:
    import sys

    stdlib = sys.stdlib_module_names
    outside = [f"{path.name}: {name}" for path, name in _imports("core")
               if name.split(".")[0] not in stdlib and not name.startswith("httprecap")]
    assert outside == []
