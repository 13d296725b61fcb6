"""Helpers for the sandbox tests (paths, ports, reading results); fixtures live in conftest.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FUNCTIONS = FIXTURES / "functions"
EXTENSION = FIXTURES / "extension.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Journal:
    """What the test extensions wrote: one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self, kind: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        found = [json.loads(line) for line in self.path.read_text().splitlines()]
        return [entry for entry in found
                if kind in (None, entry["kind"]) and name in (None, entry["name"])]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(entry["body"]) for entry in self.entries("event", name)]

    def telemetry(self, name: str | None = None) -> list[dict[str, Any]]:
        return [event for entry in self.entries("telemetry", name) for event in entry["batch"]]


def telemetry_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def payload(result: Any) -> Any:
    return json.loads(result.payload)

