"""Layers into the private /opt: order, file modes, safety, extension discovery (no processes)."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from httprecap.errors import UsageError
from httprecap.sandbox.opt import extension_paths, map_paths, unpack_layers


def _zip(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, mode) in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, data)
    return path


def test_later_layers_overwrite_earlier_ones_and_modes_survive(tmp_path):
    first = _zip(tmp_path / "a.zip", {"extensions/tool": (b"one", 0o755), "keep": (b"k", 0o644)})
    second = tmp_path / "b"
    (second / "extensions").mkdir(parents=True)
    (second / "extensions" / "tool").write_text("two")
    opt = tmp_path / "opt"
    unpack_layers([first, second], opt)
    assert (opt / "extensions" / "tool").read_text() == "two"
    assert (opt / "keep").read_text() == "k"
    unpack_layers([_zip(tmp_path / "c.zip", {"bin/run": (b"x", 0o750)})], opt)
    assert stat.S_IMODE((opt / "bin" / "run").stat().st_mode) == 0o750


def test_unsafe_member_names_are_refused(tmp_path):
    bad = _zip(tmp_path / "bad.zip", {"../escape": (b"x", 0o644)})
    with pytest.raises(UsageError, match="unsafe"):
        unpack_layers([bad], tmp_path / "opt")


def test_extensions_are_files_in_name_order(tmp_path):
    folder = tmp_path / "extensions"
    (folder / "subdir").mkdir(parents=True)
    for name in ("zeta", "alpha"):
        (folder / name).write_text("")
    assert [path.name for path in extension_paths(tmp_path)] == ["alpha", "zeta"]
    (tmp_path / "disable-extensions-jwigqn8j").write_text("")
    assert extension_paths(tmp_path) == []


def test_opt_and_task_paths_are_mapped(tmp_path):
    opt, task = Path("/x/opt"), Path("/x/task")
    assert map_paths("/opt/wrapper", opt, task) == "/x/opt/wrapper"
    assert map_paths("/opt/python:/var/task/lib:/usr/lib", opt, task) == \
        "/x/opt/python:/x/task/lib:/usr/lib"
    assert map_paths("/optional", opt, task) == "/optional"
