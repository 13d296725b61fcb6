"""Fixtures for the fleet tests: recaps of every shape, built once by the aggregator."""

from __future__ import annotations

from typing import Any

import pytest
from fleet_corpus import corpus


@pytest.fixture(scope="session")
def recaps() -> dict[str, dict[str, Any]]:
    return corpus()
