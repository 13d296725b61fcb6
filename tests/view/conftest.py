"""Fixtures for the viewer tests: sample recaps written by hand after docs/RECAP.md.

recaps.jsonl holds, in order: an init recap (an SSM call), a success with requests, S3 and
DynamoDB calls, an error with a redirect, a 500, a dropped connection and a refused one, a
timeout with a call still in flight and dropped records, and a recap with no calls and a hint.
cloudwatch.log holds the same recaps among Lambda's own lines, plus two unreadable lines;
filter-log-events.json is `aws logs filter-log-events` output of those lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def recaps() -> list[dict[str, Any]]:
    lines = (FIXTURES / "recaps.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
