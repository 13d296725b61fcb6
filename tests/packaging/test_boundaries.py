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



def _module_graph(folder: str, package: str) -> dict[str, set[str]]:
    """Each module of `folder` -> the modules of the same folder it imports (anywhere in the
    file, under TYPE_CHECKING too: a cycle there is one a reader has to untangle all the same)."""
    paths = {path: ".".join((package, *path.relative_to(ROOT / folder).with_suffix("").parts))
             .removesuffix(".__init__") for path in (ROOT / folder).rglob("*.py")}
    modules = set(paths.values())
    graph: dict[str, set[str]] = {}
    for path, module in paths.items():
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = (names & modules) - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each as the path that closes it (depth-first)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in trail:
                found.append([*trail[trail.index(target):], target])
            elif target not in done:
                visit(target, [*trail, target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


def test_the_extension_modules_import_in_one_direction() -> None:
    assert _cycles(_module_graph("external", "httprecap.external")) == []


def test_the_function_process_modules_import_in_one_direction() -> None:
    assert _cycles(_module_graph("internal", "httprecap.internal")) == []


def test_transport_never_imports_capture() -> None:
    """Capture hands records to transport, never back: transport names only its own modules
    and diagnostics of the function process, under TYPE_CHECKING too (a capture type it
    needs is a `Record`'s, defined in transport/record.py)."""
    graph = _module_graph("internal", "httprecap.internal")
    allowed = ("httprecap.internal.transport", "httprecap.internal.diagnostics")
    reached = {f"{module}: {target}" for module, targets in graph.items()
               if module.startswith("httprecap.internal.transport.") for target in targets
               if not target.startswith(allowed) and target != "httprecap.internal"}
    assert reached == set()


def _module_aliases(tree: ast.Module, modules: set[str]) -> set[str]:
    """The names a file binds to modules of `modules` (``from ... import call as calls``)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            aliases.update(alias.asname or alias.name for alias in node.names
                           if f"{node.module}.{alias.name}" in modules)
        elif isinstance(node, ast.Import):
            aliases.update(alias.asname for alias in node.names
                           if alias.asname and alias.name in modules)
    return aliases


def _reaching(folder: str, package: str) -> list[str]:
    """Each place a module of `folder` assigns another module's attribute (configuration given
    by assignment from outside) or uses another module's private name."""
    modules = set(_module_graph(folder, package))
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text())
        aliases = _module_aliases(tree, modules)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases):
                continue
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if isinstance(node.ctx, ast.Store) or private:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                             f"{node.value.id}.{node.attr}")
    return found


def test_the_function_process_is_configured_through_functions() -> None:
    """Bootstrap configures capture and attribution by calling them (``calls.configure``),
    and no module uses another's private helpers."""
    assert _reaching("internal", "httprecap.internal") == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]


PRODUCT_FOLDERS = ("core", "internal", "external", "wrapper", "layer", "sandbox", "view", "cli",
                   "fleet", "demo")


def _shadowing(root: Path) -> list[str]:
    """Modules and packages named like a standard-library module (`import select` in the
    same folder, or a reader, would take one for the other)."""
    import sys

    found = []
    for folder in PRODUCT_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            name = path.stem if path.suffix == ".py" else path.name if path.is_dir() else ""
            if name in sys.stdlib_module_names and not name.startswith("__"):
                found.append(str(path.relative_to(root)))
    return found


def test_no_module_shadows_a_standard_library_module() -> None:
    assert _shadowing(ROOT) == []
