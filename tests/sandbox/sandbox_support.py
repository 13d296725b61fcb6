"""Helpers for the sandbox tests (paths, ports, reading results); fixtures live in conftest.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from layer_support import free_port

__all__ = ["free_port"]  # shared: layer_support

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FUNCTIONS = FIXTURES / "functions"
EXTENSION = FIXTURES / "extension.py"


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

