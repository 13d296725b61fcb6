"""Helpers every test package shares (tests/ is on sys.path through tests/conftest.py): free
loopback ports, the function environment a user sets, and reading the recaps a sandbox's
extension wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from httprecap.sandbox import Sandbox
from httprecap.sandbox.ports import free_port

RECAP_PREFIX = '{"type":"httprecap.recap"'


def layer_env(**extra: str) -> dict[str, str]:
    """What a user sets, plus private ports so that sandboxes alive together never collide."""
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
    return [json.loads(line.text) for line in sandbox.logs
            if line.source == "extension" and line.text.startswith(RECAP_PREFIX)]
