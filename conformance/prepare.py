"""Conformance: what a run needs, made once under build/conformance/ and reused (dev tools).

- each client's sdist for exactly the version installed in the project's venv (from PyPI,
  ``pip download --no-binary :all:``), extracted;
- one venv (not the project's) with those client versions pinned, pytest, and every suite's
  test dependencies; re-installed only when that list changes;
- the layer zip, built from this checkout and unpacked into a folder standing in for /opt
  (rebuilt on every run: it is the code under test).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from conformance.suites import COMMON_REQUIRES, SUITES, Suite

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "build" / "conformance"
PIP = ("-m", "pip", "--disable-pip-version-check")


def installed_versions(suites: tuple[Suite, ...] = SUITES) -> dict[str, str]:
    """Each suite's client version as installed beside this interpreter (the project's venv)."""
    return {suite.name: importlib.metadata.version(suite.name) for suite in suites}


def sdist(name: str, version: str, home: Path = HOME) -> Path:
    """The client's sdist, downloaded from PyPI once."""
    folder = home / "sdists"
    found = _find_sdist(folder, name, version)
    if found is None:
        folder.mkdir(parents=True, exist_ok=True)
        pip(sys.executable, "download", "--no-deps", "--no-binary", ":all:", "--dest",
            str(folder), f"{name}=={version}")
        found = _find_sdist(folder, name, version)
    if found is None:
        raise RuntimeError(f"pip downloaded no sdist for {name}=={version}")
    return found


def _find_sdist(folder: Path, name: str, version: str) -> Path | None:
    found = sorted(folder.glob(f"{name}-{version}.tar.gz")) if folder.exists() else []
    return found[0] if found else None


def sources(name: str, version: str, home: Path = HOME) -> Path:
    """The extracted sdist's root folder (extracted once)."""
    root = home / "src" / f"{name}-{version}"
    if not (root / ".extracted").exists():
        shutil.rmtree(root, ignore_errors=True)
        with tarfile.open(sdist(name, version, home)) as archive:
            archive.extractall(root.parent, filter="data")
        (root / ".extracted").touch()
    return root


def workdir(suite: Suite, source: Path, label: str, home: Path = HOME) -> Path:
    """A fresh copy of what the suite's run needs, without the client's own package: the
    tests must import the installed client, whatever pytest puts on sys.path."""
    target = home / "runs" / suite.name / label
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for entry in suite.copy:
        origin = source / entry
        if origin.is_dir():
            shutil.copytree(origin, target / entry)
        elif origin.exists():
            shutil.copy2(origin, target / entry)
    return target


def requirements(suites: tuple[Suite, ...], versions: dict[str, str]) -> list[str]:
    """What the conformance venv holds: the clients at the project venv's versions, pytest at
    its version too, and every suite's test dependencies."""
    pinned = [f"{name}=={version}" for name, version in sorted(versions.items())]
    pinned.append(f"pytest=={importlib.metadata.version('pytest')}")
    extra = sorted({item for suite in suites for item in suite.requires} | set(COMMON_REQUIRES))
    return pinned + [item for item in extra if item != "pytest"]


def venv(suites: tuple[Suite, ...], versions: dict[str, str], home: Path = HOME) -> Path:
    """The conformance venv's python, (re)installed when its requirements change."""
    folder = home / "venv"
    python = folder / "bin" / "python"
    wanted = requirements(suites, versions)
    stamp = folder / "conformance-requirements.txt"
    if python.exists() and stamp.exists() and set(wanted) <= set(_stamped(stamp)):
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    # The clients' pins are constraints too: no test dependency may move them.
    constraints = folder / "constraints.txt"
    constraints.write_text("".join(f"{item}\n" for item in wanted if "==" in item))
    pip(str(python), "install", "-c", str(constraints), *wanted)
    stamp.write_text("".join(f"{item}\n" for item in sorted(set(wanted) | set(_stamped(stamp)))))
    return python


def pip(python: str, *args: str) -> None:
    """Runs pip quietly; its output is shown, less the notes on this machine's extra indexes,
    only when it fails."""
    done = subprocess.run([python, *PIP, *args[:1], "--quiet", *args[1:]], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        noise = "WARNING: Location"
        print("\n".join(line for line in (done.stdout + done.stderr).splitlines()
                        if not line.startswith(noise)), file=sys.stderr)
        raise RuntimeError(f"pip {args[0]} failed ({done.returncode})")


def _stamped(stamp: Path) -> list[str]:
    return stamp.read_text().split() if stamp.exists() else []


def layer(home: Path = HOME) -> Path:
    """Builds the layer zip from this checkout and unpacks it; the folder standing in for /opt."""
    from httprecap.layer.build import build_layer

    built = build_layer(home / "httprecap-layer.zip")
    opt = home / "opt"
    shutil.rmtree(opt, ignore_errors=True)
    unpack(built.path, opt)
    return opt


def unpack(archive: Path, target: Path) -> None:
    """Extracts a zip keeping its files' modes (the wrapper must stay executable)."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            path = Path(zipped.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)
