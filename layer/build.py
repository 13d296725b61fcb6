"""Build: assembles the Lambda layer zip from the runtime sources (dev-time, the build machine).

The zip is the product's interface, unpacked by Lambda under /opt:

    extensions/httprecap                     0755  the external extension's launcher
    httprecap-wrapper                        0755  AWS_LAMBDA_EXEC_WRAPPER target
    httprecap/boot/sitecustomize.py                loads the internal extension
    httprecap/lib/httprecap/**.py                  core/, internal/, external/ (runtime code only:
                                                   not the modules of types, TYPES_ONLY)
    httprecap/lib/httprecap/_vendor/wrapt/         wrapt 1.17.3's C module, cp310..cp314
    **/__pycache__/*.cpython-3XX.pyc               bytecode for each Python 3.10+ found here

/opt is read-only on Lambda, so a layer without bytecode makes every cold start recompile our
modules; the .pyc files use unchecked hashes so their bytes do not depend on file mtimes.
The zip is deterministic: sorted entries, 1980-01-01 timestamps, fixed modes. The same sources
(and interpreters) give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from httprecap.errors import HttprecapError
from httprecap.layer import bytecode, vendor

# Code, not a framework. Most of the bytes are wrapt's six C modules (~60 KiB each, zipped,
# with their debug info: stripping the arm64 ones would need a cross toolchain) and bytecode
# for four Pythons; the tests hold the zip to this budget, the build only reports it.
SIZE_BUDGET = 2 * 1024 * 1024

LIB = "httprecap/lib/httprecap"
VENDOR = f"{LIB}/_vendor"
# (source, path in the zip) of the loader files that the wrapper/ folder provides.
LOADERS = (
    ("wrapper/httprecap-extension", "extensions/httprecap"),
    ("wrapper/httprecap-wrapper", "httprecap-wrapper"),
    ("wrapper/sitecustomize.py", "httprecap/boot/sitecustomize.py"),
)
EXECUTABLES = frozenset({"extensions/httprecap", "httprecap-wrapper"})
# (source folder, package path in the zip): only what runs in the function or extension process.
RUNTIME_PACKAGES = (("core", LIB), ("internal", f"{LIB}/internal"),
                    ("external", f"{LIB}/external"))
SKIPPED_DIRS = frozenset({"__pycache__", "_vendor"})
# Modules of types for mypy alone (their classes exist under `if TYPE_CHECKING:` only):
# nothing in the function or extension process imports them, so they do not ship.
TYPES_ONLY = frozenset({"core/recap_schema.py"})
VENDOR_INIT = b'"""Third-party code vendored under a private name, isolated from the user\'s."""\n'

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE, EXEC_MODE, DIR_MODE = 0o644, 0o755, 0o755


@dataclass(frozen=True)
class LayerBuild:
    """What `build_layer` made: the zip and what the output line reports about it."""

    path: Path
    size: int
    sha256: str
    arch: str
    bytecode_versions: tuple[str, ...]
    wrapt_tags: tuple[str, ...] = field(default=vendor.PYTHON_TAGS)


def default_source_root() -> Path:
    """The checkout this httprecap runs from (the folder holding core/, wrapper/ …)."""
    import httprecap

    return Path(httprecap.__file__).resolve().parent.parent


def build_layer(out: Path, arch: str = "x86_64", source_root: Path | None = None,
                cache_dir: Path | None = None,
                interpreters: Sequence[bytecode.Interpreter] | None = None) -> LayerBuild:
    """Writes the layer zip to `out` and returns its path, size and sha256."""
    root = source_root or default_source_root()
    files = collect_sources(root)
    files.update(vendored_files(arch, cache_dir))
    found = bytecode.find_interpreters() if interpreters is None else list(interpreters)
    files.update(bytecode.compile_all(files, found, prefix="/opt/"))
    data = zip_bytes(files)
    _write_atomically(out, data)
    return LayerBuild(out, len(data), hashlib.sha256(data).hexdigest(), arch,
                      tuple(interpreter.version for interpreter in found))


def collect_sources(root: Path) -> dict[str, bytes]:
    """Every runtime file of the checkout at `root`, keyed by its path in the zip."""
    missing = [source for source, _ in LOADERS if not (root / source).is_file()]
    missing += [folder for folder, _ in RUNTIME_PACKAGES if not (root / folder).is_dir()]
    if missing:
        raise HttprecapError(f"cannot build the layer: missing {', '.join(missing)} "
                             f"in {root}")
    files = {target: (root / source).read_bytes() for source, target in LOADERS}
    for folder, package in RUNTIME_PACKAGES:
        for path in _python_files(root / folder):
            relative = path.relative_to(root / folder).as_posix()
            if f"{folder}/{relative}" not in TYPES_ONLY:
                files[f"{package}/{relative}"] = path.read_bytes()
    return files


def _python_files(folder: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        # Bytecode of the build machine and a dev-time _vendor copy are never shipped: the
        # build makes both itself.
        dirnames[:] = sorted(name for name in dirnames if name not in SKIPPED_DIRS)
        yield from (Path(dirpath) / name for name in sorted(filenames) if name.endswith(".py"))


def vendored_files(arch: str, cache_dir: Path | None) -> dict[str, bytes]:
    # `_vendor/wrapt` gets no __init__.py: as a namespace package, importing its `_wrappers`
    # runs no other code of ours or of wrapt's.
    files = {f"{VENDOR}/__init__.py": VENDOR_INIT}
    for item in vendor.wrapt_files(arch, cache_dir):
        files[f"{VENDOR}/wrapt/{item.name}"] = item.data
    return files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """The deterministic zip of `files`: sorted, fixed times and modes, directories listed."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(set(files) | _directories(files)):
            if name.endswith("/"):
                archive.writestr(_entry(name, DIR_MODE, directory=True), b"")
            else:
                mode = EXEC_MODE if name in EXECUTABLES else FILE_MODE
                archive.writestr(_entry(name, mode), files[name])
    return buffer.getvalue()


def _directories(files: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        found.update("/".join(parts[:depth]) + "/" for depth in range(1, len(parts) + 1))
    return found


def _entry(name: str, mode: int, directory: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.create_system = 3  # Unix: unzip and Lambda read the mode from external_attr.
    kind = 0o040000 if directory else 0o100000
    info.external_attr = ((kind | mode) << 16) | (0x10 if directory else 0)
    info.compress_type = zipfile.ZIP_STORED if directory else zipfile.ZIP_DEFLATED
    return info


def _write_atomically(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out)
