"""Fixtures for the sandbox's tests: function code, test extensions in layers, sandboxes that
always shut down (dev-time tests; each sandbox is a real process tree)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import EXTENSION, FUNCTIONS, Journal

from httprecap.sandbox import FunctionConfig, Sandbox


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.jsonl")


@pytest.fixture
def make_layer(tmp_path: Path, journal: Journal) -> Callable[..., Path]:
    """make_layer(ext_name={config}, ...) -> a layer directory with those test extensions."""
    count = 0

    def build(**extensions: dict[str, Any]) -> Path:
        nonlocal count
        count += 1
        layer = tmp_path / f"layer{count}"
        (layer / "extensions").mkdir(parents=True)
        for name, config in extensions.items():
            target = layer / "extensions" / name
            shutil.copyfile(EXTENSION, target)
            target.chmod(0o755)
            settings = {"journal": str(journal.path), **config}
            (layer / f"{name}.json").write_text(json.dumps(settings))
        return layer

    return build


@pytest.fixture
def open_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """open_sandbox(handler, **config) -> a started Sandbox, shut down after the test."""
    opened: list[Sandbox] = []

    def start(handler: str = "app.hello", on_log: Any = None, **overrides: Any) -> Sandbox:
        settings: dict[str, Any] = {"code_dir": FUNCTIONS, "handler": handler}
        settings.update(overrides)
        sandbox = Sandbox(FunctionConfig(**settings), on_log=on_log)
        opened.append(sandbox)
        sandbox.start()
        return sandbox

    yield start
    for sandbox in opened:
        sandbox.shutdown()


