"""Build: fetches wrapt 1.17.3's C module for every Lambda Python, for the layer (dev-time).

Why this one module and this version: the full wrapt package costs ~190 ms to import
(importlib.metadata, asyncio); wrapt 2.x's C module imports `wrapt.exceptions` by absolute name,
so it cannot be isolated from a user's wrapt. wrapt 1.17.3's `_wrappers` extension is
self-contained: loaded as `httprecap._vendor.wrapt._wrappers` it costs ~3 ms and shares nothing
with whatever `wrapt` the user's function brings.

Wheels come from the package index through `pip download` into a cache
(`~/.cache/httprecap/wheels`, or `$XDG_CACHE_HOME/httprecap/wheels`), so a second build is
offline; only the extension module, the pure-Python fallback `wrappers.py` and the licence are
taken out of each wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from httprecap.errors import HttprecapError

WRAPT_VERSION = "1.17.3"
# Every Python runtime Lambda offers (python3.9 is deprecated; the layer's code needs 3.10).
PYTHON_TAGS = ("310", "311", "312", "313", "314")
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class VendoredFile:
    """One file for `httprecap/_vendor/wrapt/` in the layer: its name there and its bytes."""

    name: str
    data: bytes


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "httprecap" / "wheels"


def machine_arch(arch: str) -> str:
    """Lambda's architecture name (x86_64, arm64) -> the one in wheel and .so names."""
    try:
        return ARCHES[arch]
    except KeyError:
        raise HttprecapError(f"unknown architecture {arch!r}: use x86_64 or arm64") from None


def wrapt_files(arch: str, cache_dir: Path | None = None) -> list[VendoredFile]:
    """Every `_wrappers` module (cp310..cp314) for `arch`, plus `wrappers.py` and `LICENSE`."""
    cache = cache_dir or default_cache_dir()
    machine = machine_arch(arch)
    files: list[VendoredFile] = []
    for tag in PYTHON_TAGS:
        wheel = cached_wheel(cache, tag, machine) or download_wheel(cache, tag, machine)
        files.append(_extension_module(wheel, tag, machine))
    files += _pure_files(wheel)
    return files


def cached_wheel(cache: Path, tag: str, machine: str) -> Path | None:
    pattern = f"wrapt-{WRAPT_VERSION}-cp{tag}-cp{tag}-*{machine}*.whl"
    found = sorted(cache.glob(pattern))
    return found[0] if found else None


def download_wheel(cache: Path, tag: str, machine: str) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--platform", f"manylinux2014_{machine}",
        "--python-version", f"{tag[0]}.{tag[1:]}", "--dest", str(cache),
        f"wrapt=={WRAPT_VERSION}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = cached_wheel(cache, tag, machine)
    if wheel is None:
        raise HttprecapError(
            f"cannot download wrapt {WRAPT_VERSION} for cp{tag} {machine} "
            f"({_last_line(result.stderr) or 'pip found no such wheel'}); "
            f"put the wheel in {cache} and build again"
        )
    return wheel


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("WARNING: Location")]
    return lines[-1] if lines else ""


def _extension_module(wheel: Path, tag: str, machine: str) -> VendoredFile:
    name = f"_wrappers.cpython-{tag}-{machine}-linux-gnu.so"
    return VendoredFile(name, _read_member(wheel, f"wrapt/{name}"))


def _pure_files(wheel: Path) -> list[VendoredFile]:
    """The pure-Python fallback (for a Python newer than any wheel) and the licence."""
    licence = f"wrapt-{WRAPT_VERSION}.dist-info/licenses/LICENSE"
    return [VendoredFile("wrappers.py", _read_member(wheel, "wrapt/wrappers.py")),
            VendoredFile("LICENSE", _read_member(wheel, licence))]


def _read_member(wheel: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise HttprecapError(f"{wheel.name} is unusable ({member}: {exc}); delete it and "
                             "build again") from None
