"""Helpers for the end-to-end tests: sandbox configs with the layer attached, reading recaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layer_support import free_port, layer_env, recaps_in, recaps_in_logs

from httprecap.sandbox import FunctionConfig, Sandbox

__all__ = ["free_port", "layer_env", "recaps_in", "recaps_in_logs"]  # shared: layer_support

FUNCTIONS = Path(__file__).parent / "functions"


def sandbox_for(function: str, layer: Path, env: dict[str, str], **options: Any) -> Sandbox:
    config = FunctionConfig(code_dir=FUNCTIONS / function, handler="app.handler",
                            layers=[layer], env=env, **options)
    return Sandbox(config)


def processes_under(opt_dir: Path) -> dict[int, str]:
    """pid -> command line of every live process started from this sandbox's /opt or runtime."""
    found = {}
    scratch = str(opt_dir.parent)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if scratch in cmdline:
            found[int(entry.name)] = cmdline
    return found
