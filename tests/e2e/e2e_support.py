"""Helpers for the end-to-end tests: sandbox configs with the layer attached, reading recaps."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from httprecap.sandbox import FunctionConfig, Sandbox

FUNCTIONS = Path(__file__).parent / "functions"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def layer_env(**extra: str) -> dict[str, str]:
    """The function environment a user sets, plus private ports so sandboxes never collide."""
    return {
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",
        "HTTPRECAP_PORT": str(free_port()),
        "HTTPRECAP_TELEMETRY_PORT": str(free_port()),
        **extra,
    }


def recaps_in(path: Path) -> list[dict[str, Any]]:
    """The recaps in a file sink's file, read while the extension may be writing to it: a last
    line without its newline yet is left for the next read."""
    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def recaps_in_logs(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The recaps the `stdout` sink wrote, as they reach the extension's log stream."""
    found = []
    for line in sandbox.logs:
        if line.source == "extension" and line.text.startswith('{"type":"httprecap.recap"'):
            found.append(json.loads(line.text))
    return found


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
