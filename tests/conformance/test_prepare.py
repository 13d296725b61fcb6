"""What the harness prepares: the clients pinned to the project venv's versions in its own
venv, and the layer unpacked with its wrapper still executable."""

from __future__ import annotations

import importlib.metadata
import os
import zipfile
from pathlib import Path

from conformance.prepare import requirements, unpack
from conformance.suites import SUITES


def test_the_clients_and_pytest_are_pinned_to_the_project_venvs_versions() -> None:
    wanted = requirements(SUITES, {"requests": "2.34.2", "botocore": "1.44.18"})
    assert wanted[:3] == ["botocore==1.44.18", "requests==2.34.2",
                          f"pytest=={importlib.metadata.version('pytest')}"]
    assert "pytest-reportlog" in wanted
    assert "pytest" not in wanted  # only the pinned one


def test_every_suites_test_dependencies_are_installed() -> None:
    wanted = set(requirements(SUITES, {}))
    assert all(set(suite.requires) <= wanted for suite in SUITES)


def test_unpacking_keeps_the_wrappers_mode(tmp_path: Path) -> None:
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, mode in (("httprecap-wrapper", 0o755), ("httprecap/boot/x.py", 0o644)):
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zipped.writestr(info, "#!/bin/sh\n")
    unpack(archive, tmp_path / "opt")
    assert os.access(tmp_path / "opt" / "httprecap-wrapper", os.X_OK)
    assert not os.access(tmp_path / "opt" / "httprecap" / "boot" / "x.py", os.X_OK)
