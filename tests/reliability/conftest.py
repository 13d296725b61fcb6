"""Reliability fixtures: the layer built once from this checkout, a loopback upstream, moto,
and the figures docs/RELIABILITY.md reports.

Every test here runs a real function in the local Lambda sandbox (real awslambdaric) with the
built layer attached as a user would (`AWS_LAMBDA_EXEC_WRAPPER=/opt/httprecap-wrapper`), then
breaks something: the extension, the handler, a sink, the collector's input, the settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_support import Figures

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer
from httprecap.layer.build import build_layer


@pytest.fixture(scope="session")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_layer(tmp_path_factory.mktemp("layer") / "httprecap-layer.zip").path


@pytest.fixture(scope="session")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """Figures each case records; `RELIABILITY_FIGURES=path` keeps them for the report."""
    collected = Figures()
    yield collected
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        collected.write(Path(target))
