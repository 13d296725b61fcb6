"""Layers: unpack them into the private directory that plays /opt (dev-time sandbox process).

Lambda extracts each layer of a function, in order, into /opt; a later layer overwrites the
files of an earlier one. Zips keep their Unix file modes (``external_attr >> 16``), which is
how a layer ships an executable wrapper or extension. Then every non-directory entry of
/opt/extensions is an extension to launch, unless /opt/disable-extensions-jwigqn8j exists.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from httprecap.errors import UsageError

DISABLE_EXTENSIONS = "disable-extensions-jwigqn8j"


def unpack_layers(layers: list[Path], opt: Path) -> None:
    """Lay every layer into `opt`, in order."""
    opt.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        if layer.is_dir():
            shutil.copytree(layer, opt, symlinks=True, dirs_exist_ok=True)
        elif zipfile.is_zipfile(layer):
            _extract_zip(layer, opt)
        else:
            raise UsageError(f"layer is neither a zip nor a directory: {layer}")


def _extract_zip(layer: Path, opt: Path) -> None:
    with zipfile.ZipFile(layer) as archive:
        for info in archive.infolist():
            target = _safe_target(opt, info.filename, layer)
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode):
                _replace_with_symlink(target, archive.read(info).decode())
            else:
                _write_member(archive, info, target, mode)


def _safe_target(opt: Path, name: str, layer: Path) -> Path:
    """Refuse members that would land outside /opt (absolute paths, `..`)."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ".." in parts:
        raise UsageError(f"layer {layer} has an unsafe member name: {name!r}")
    return opt.joinpath(*parts)


def _replace_with_symlink(target: Path, link: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(link)


def _write_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path,
                  mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    with archive.open(info) as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    # Zips made on Windows carry no Unix mode; Lambda then uses 0644 for files.
    permissions = stat.S_IMODE(mode) if mode else 0o644
    os.chmod(target, permissions)


def extension_paths(opt: Path) -> list[Path]:
    """The files Lambda would launch as external extensions, in launch (name) order."""
    folder = opt / "extensions"
    if (opt / DISABLE_EXTENSIONS).exists() or not folder.is_dir():
        return []
    entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    return [Path(entry.path) for entry in entries if not entry.is_dir(follow_symlinks=False)]


def map_paths(value: str, opt: Path, task: Path) -> str:
    """Rewrite /opt/... and /var/task/... in a (colon-separated) value to the private dirs.

    Users type the values they would type on AWS (``AWS_LAMBDA_EXEC_WRAPPER=/opt/wrapper``).
    """
    return ":".join(_map_one(part, opt, task) for part in value.split(":"))


def _map_one(part: str, opt: Path, task: Path) -> str:
    for prefix, target in (("/opt", opt), ("/var/task", task)):
        if part == prefix or part.startswith(prefix + "/"):
            return str(target) + part[len(prefix):]
    return part
