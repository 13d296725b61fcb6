"""Post-import hooks: run a callback once a named module has been imported (function process).

Capture points are named by string and patched when the user's code imports the library,
never by importing it ourselves: httprecap must not add requests' or botocore's import time
to a function that does not use them. A module that is already imported is handled at once.

The finder sits first on ``sys.meta_path``. For a hooked name it asks the other finders for
the spec and swaps in a loader that runs the real ``exec_module`` and then the callbacks;
every other import costs one dictionary lookup. wrapt's own importer is not used: it imports
``importlib.metadata``, which is slow. Nothing here imports `typing` (names for mypy only).
"""

from __future__ import annotations

import sys

from httprecap.internal import diagnostics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

    Callback = Callable[[ModuleType], None]


class PostImportFinder:
    """A meta-path finder that only ever hooks names it was told about."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callback]] = {}
        self._resolving: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname not in self.callbacks or fullname in self._resolving:
            return None
        self._resolving.add(fullname)
        try:
            spec = _spec_from_other_finders(self, fullname, path, target)
        finally:
            self._resolving.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # let the machinery import it unhooked rather than guess
        hooked: Loader = _HookedLoader(spec.loader, self, fullname)  # type: ignore[assignment]
        spec.loader = hooked
        return spec

    def fire(self, fullname: str, module: ModuleType) -> None:
        for callback in self.callbacks.pop(fullname, []):
            run_safely(callback, module)


class _HookedLoader:
    """Stands in for a module's loader during its import only."""

    def __init__(self, loader: Any, finder: PostImportFinder, fullname: str) -> None:
        self.loader = loader
        self.finder = finder
        self.fullname = fullname

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Put the real loader back first: nothing after the import should ever see this proxy.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.finder.fire(self.fullname, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


def _spec_from_other_finders(
    finder: PostImportFinder, fullname: str, path: Any, target: Any
) -> ModuleSpec | None:
    for other in sys.meta_path:
        find_spec = getattr(other, "find_spec", None)
        if other is finder or find_spec is None:
            continue
        spec: ModuleSpec | None = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def run_safely(callback: Callback, module: ModuleType) -> None:
    """A failing patch must never break the user's import: it is skipped."""
    try:
        callback(module)
    except Exception as exc:
        diagnostics.swallowed(f"hooks.run_safely:{getattr(module, '__name__', '?')}", exc)
        return


_finder = PostImportFinder()


def when_imported(name: str, callback: Callback) -> None:
    """Run `callback(module)` once `name` is imported (now, if it already is)."""
    module = sys.modules.get(name)
    if module is not None:
        run_safely(callback, module)
        return
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    _finder.callbacks.setdefault(name, []).append(callback)


def remove_all() -> None:
    """Forget every pending hook and take the finder off sys.meta_path (uninstall, tests)."""
    _finder.callbacks.clear()
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
