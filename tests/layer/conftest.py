"""Fixtures for the layer tests: one built zip per session, from the checkout or stand-ins."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from httprecap.layer.build import LOADERS, LayerBuild, build_layer

ROOT = Path(__file__).resolve().parents[2]


def _source_root(tmp: Path) -> Path:
    """A snapshot of the checkout's runtime folders (others may be editing them while the tests
    run), with stand-in loaders while wrapper/ does not have them yet."""
    for folder in ("core", "internal", "external", "wrapper"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, tmp / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
    if all((tmp / source).is_file() for source, _ in LOADERS):
        return tmp
    (tmp / "wrapper").mkdir(exist_ok=True)
    (tmp / "wrapper/httprecap-extension").write_text("#!/bin/sh\necho stand-in launcher\n")
    (tmp / "wrapper/httprecap-wrapper").write_text('#!/bin/sh\nexec "$@"\n')
    (tmp / "wrapper/sitecustomize.py").write_text('"""Stand-in loader."""\n')
    return tmp


@pytest.fixture(scope="session")
def source_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _source_root(tmp_path_factory.mktemp("layer-source"))


@pytest.fixture(scope="session")
def layer_build(source_root: Path, tmp_path_factory: pytest.TempPathFactory) -> LayerBuild:
    return build_layer(tmp_path_factory.mktemp("layer") / "httprecap-layer.zip",
                       source_root=source_root)


@pytest.fixture(scope="session")
def unpacked_layer(layer_build: LayerBuild, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip unpacked as Lambda would under /opt."""
    opt = tmp_path_factory.mktemp("opt")
    with zipfile.ZipFile(layer_build.path) as archive:
        archive.extractall(opt)
    return opt
