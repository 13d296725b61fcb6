"""Fixtures for the external extension's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ext_support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
