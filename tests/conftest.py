"""Fixtures shared by every test folder: a local AWS endpoint (moto's server mode on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from httprecap.demo.aws import MotoServer


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """This process's boto3 pointed at moto, with fake credentials and no local AWS config."""
    for name, value in moto.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto
