"""End-to-end fixtures: the layer built once from this checkout, a loopback upstream.

(moto comes from tests/conftest.py.)

Every test here runs a real function in the local Lambda sandbox (real awslambdaric) with the
built layer zip attached exactly as a user would: `AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from httprecap.demo.upstream import UpstreamServer
from httprecap.layer.build import build_layer


@pytest.fixture(scope="session")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_layer(tmp_path_factory.mktemp("layer") / "httprecap-layer.zip").path


@pytest.fixture(scope="session")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server
