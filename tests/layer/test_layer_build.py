"""Layer build: layout, modes, contents, size, determinism and bytecode of the zip."""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from httprecap.cli.main import main
from httprecap.errors import HttprecapError
from httprecap.layer import vendor
from httprecap.layer.build import SIZE_BUDGET, LayerBuild, build_layer

ROOT = Path(__file__).resolve().parents[2]
LIB = "httprecap/lib/httprecap"
WRAPT = f"{LIB}/_vendor/wrapt"
EXECUTABLES = {"extensions/httprecap", "httprecap-wrapper"}


def _names(build: LayerBuild) -> list[str]:
    with zipfile.ZipFile(build.path) as archive:
        return archive.namelist()


def _infos(build: LayerBuild) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(build.path) as archive:
        return archive.infolist()


def test_layout_has_the_loaders_the_library_and_the_vendored_module(
        layer_build: LayerBuild) -> None:
    names = set(_names(layer_build))
    expected = {
        "extensions/httprecap", "httprecap-wrapper", "httprecap/boot/sitecustomize.py",
        f"{LIB}/__init__.py", f"{LIB}/settings.py", f"{LIB}/wire.py",
        f"{LIB}/internal/__init__.py", f"{LIB}/external/__init__.py",
        f"{LIB}/_vendor/__init__.py", f"{WRAPT}/wrappers.py", f"{WRAPT}/LICENSE",
    }
    expected |= {f"{WRAPT}/_wrappers.cpython-{tag}-x86_64-linux-gnu.so"
                 for tag in ("310", "311", "312", "313", "314")}
    assert expected <= names
    assert not [name for name in names if "cpython-39" in name]  # python3.9 is not offered


def test_vendored_wrapt_stays_a_namespace_package(layer_build: LayerBuild) -> None:
    assert f"{WRAPT}/__init__.py" not in _names(layer_build)


def test_library_holds_exactly_the_runtime_sources(layer_build: LayerBuild,
                                                   source_root: Path) -> None:
    shipped = {name for name in _names(layer_build)
               if name.startswith(f"{LIB}/") and name.endswith(".py") and "/_vendor/" not in name}
    sources = {f"{LIB}/{path.relative_to(source_root / 'core').as_posix()}"
               for path in (source_root / "core").rglob("*.py")}
    for folder in ("internal", "external"):
        sources |= {f"{LIB}/{folder}/{path.relative_to(source_root / folder).as_posix()}"
                    for path in (source_root / folder).rglob("*.py")}
    assert shipped == sources - {f"{LIB}/recap_schema.py"}  # (types for mypy: TYPES_ONLY)


def test_every_shipped_module_imports_without_the_modules_of_types(
        unpacked_layer: Path) -> None:
    """What runs in the function or extension process never needs a module left out as
    types only: each shipped module imports in an interpreter that has the layer alone."""
    lib = unpacked_layer / "httprecap/lib"
    modules = sorted(".".join(path.relative_to(lib).with_suffix("").parts).removesuffix(
        ".__init__") for path in (lib / "httprecap").rglob("*.py") if "_vendor" not in path.parts)
    assert len(modules) > 50 and "httprecap.external.main" in modules
    code = (f"import importlib, sys; sys.path.insert(0, {str(lib)!r})\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('httprecap')"
            " and m.rsplit('.', 1)[-1] in ('recap_schema',)))")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_nothing_dev_only_ships(layer_build: LayerBuild) -> None:
    dev_only = ("/layer/", "/sandbox/", "/view/", "/cli/", "tests/", "conftest", ".egg-info",
                "py.typed")
    assert [name for name in _names(layer_build) if any(part in name for part in dev_only)] == []


def test_executables_are_0755_and_every_other_file_0644(layer_build: LayerBuild) -> None:
    modes = {info.filename: stat.S_IMODE(info.external_attr >> 16)
             for info in _infos(layer_build) if not info.is_dir()}
    assert {name for name, mode in modes.items() if mode == 0o755} == EXECUTABLES
    assert {mode for name, mode in modes.items() if name not in EXECUTABLES} == {0o644}


def test_entries_are_sorted_and_timestamped_1980(layer_build: LayerBuild) -> None:
    infos = _infos(layer_build)
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_zip_stays_within_its_size_budget(layer_build: LayerBuild) -> None:
    assert SIZE_BUDGET == 2 * 1024 * 1024
    assert layer_build.size == layer_build.path.stat().st_size <= SIZE_BUDGET


def test_same_sources_give_the_same_bytes(layer_build: LayerBuild, source_root: Path,
                                          tmp_path: Path) -> None:
    again = build_layer(tmp_path / "again.zip", source_root=source_root)
    assert again.sha256 == layer_build.sha256
    assert again.path.read_bytes() == layer_build.path.read_bytes()


def test_every_python_file_has_bytecode_for_each_interpreter_found(
        layer_build: LayerBuild) -> None:
    names = set(_names(layer_build))
    sources = [name for name in names if name.endswith(".py")]
    assert "3.11" in layer_build.bytecode_versions or sys.version_info[:2] != (3, 11)
    for version in layer_build.bytecode_versions:
        tag = f"cpython-{version.replace('.', '')}"
        missing = [name for name in sources if _pyc_name(name, tag) not in names]
        assert missing == [], f"no {tag} bytecode for {missing}"


def _pyc_name(source: str, tag: str) -> str:
    folder, _, file = source.rpartition("/")
    return f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc"


def test_bytecode_is_unchecked_hash_based(layer_build: LayerBuild) -> None:
    with zipfile.ZipFile(layer_build.path) as archive:
        pycs = [name for name in archive.namelist() if name.endswith(".pyc")]
        flags = {int.from_bytes(archive.read(name)[4:8], "little") for name in pycs}
    assert pycs and flags == {0b01}  # hash-based, source not checked: no mtime inside


def test_python_runs_the_shipped_bytecode_without_reading_the_source(
        unpacked_layer: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(unpacked_layer / "httprecap/lib", lib)
    # An edit the bytecode does not know about stays invisible: the .pyc is what runs.
    with (lib / "httprecap/settings.py").open("a") as source:
        source.write("\nEDITED_AFTER_BUILD = True\n")
    code = (f"import sys; sys.path.insert(0, {str(lib)!r}); import httprecap.settings as s; "
            "print(hasattr(s, 'EDITED_AFTER_BUILD'))")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_arm64_build_ships_aarch64_modules(source_root: Path, tmp_path: Path) -> None:
    build = build_layer(tmp_path / "arm.zip", arch="arm64", source_root=source_root,
                        interpreters=[])
    modules = [name for name in _names(build) if name.endswith(".so")]
    assert len(modules) == 5  # cp310..cp314
    assert all(name.endswith("-aarch64-linux-gnu.so") for name in modules)
    assert build.bytecode_versions == ()


def test_missing_loader_files_fail_with_one_clear_message(tmp_path: Path) -> None:
    for folder in ("core", "internal", "external"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    with pytest.raises(HttprecapError, match=r"missing wrapper/httprecap-extension, "
                       r"wrapper/httprecap-wrapper, wrapper/sitecustomize.py"):
        build_layer(tmp_path / "out.zip", source_root=tmp_path)
    assert not (tmp_path / "out.zip").exists()


def test_unknown_architecture_is_refused(source_root: Path, tmp_path: Path) -> None:
    with pytest.raises(HttprecapError, match="unknown architecture 'sparc'"):
        build_layer(tmp_path / "out.zip", arch="sparc", source_root=source_root)


def test_a_wheel_that_cannot_be_downloaded_says_so_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(HttprecapError) as raised:
        vendor.download_wheel(tmp_path, "99", "x86_64")
    message = str(raised.value)
    assert message.startswith("cannot download wrapt 1.17.3 for cp99 x86_64")
    assert str(tmp_path) in message and "\n" not in message


def test_cli_build_prints_path_size_sha256_and_bytecode_versions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist/layer.zip"
    code = main(["layer", "build", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    if not (ROOT / "wrapper/httprecap-wrapper").is_file():  # until wrapper/ lands
        assert (code, stdout) == (1, "")
        assert stderr.startswith("httprecap: error: cannot build the layer: missing wrapper/")
        return
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == str(out)
    assert f"size     {out.stat().st_size} bytes" in lines[1]
    assert lines[2] == f"  sha256   {hashlib.sha256(out.read_bytes()).hexdigest()}"
    assert any(line.startswith("  bytecode 3.1") for line in lines)
