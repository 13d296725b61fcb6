"""Build: precompiles the layer's Python files for every Python 3.10+ on the build machine.

Lambda mounts layers read-only, so bytecode missing from the zip is recompiled on every cold
start. Each interpreter compiles in its own subprocess with unchecked-hash .pyc files (no mtime
inside), a fixed hash seed (set and frozenset constants marshal in hash order) and the path the
file will have on Lambda (`/opt/...`) as the name tracebacks show.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from httprecap.errors import HttprecapError

MINORS = range(10, 15)

# Runs inside each interpreter: argv = staging root, prefix; stdin = one relative path a line.
_COMPILER = """
import py_compile, sys
from pathlib import Path
root, prefix = Path(sys.argv[1]), sys.argv[2]
tag = sys.implementation.cache_tag
for relative in sys.stdin.read().split():
    source = root / relative
    target = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    py_compile.compile(str(source), cfile=str(target), dfile=prefix + relative, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


@dataclass(frozen=True)
class Interpreter:
    """A CPython found on this machine: `version` is "3.12"; `path` runs it."""

    version: str
    path: Path


def find_interpreters() -> list[Interpreter]:
    """One working CPython for each of 3.10..3.14 found on PATH or under pyenv, oldest first."""
    found: dict[str, Interpreter] = {}
    for candidate in _candidates():
        version = _version_of(candidate)
        if version and version not in found:
            found[version] = Interpreter(version, candidate)
    return [found[version] for version in sorted(found, key=lambda v: int(v.split(".")[1]))]


def _candidates() -> Iterable[Path]:
    yield Path(sys.executable)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for minor in MINORS:
        on_path = shutil.which(f"python3.{minor}")
        if on_path:
            yield Path(on_path)
        # pyenv's shims refuse versions that are not selected; its real binaries do not.
        yield from sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))


def _version_of(candidate: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.implementation.name, "
             "'%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.fullmatch(r"cpython (3\.(\d+))", result.stdout.strip())
    if result.returncode != 0 or not match or int(match.group(2)) not in MINORS:
        return None
    return match.group(1)


def compile_all(files: dict[str, bytes], interpreters: Sequence[Interpreter],
                prefix: str) -> dict[str, bytes]:
    """The .pyc files of every `*.py` in `files`, for each interpreter, keyed by zip path."""
    sources = sorted(name for name in files if name.endswith(".py"))
    with tempfile.TemporaryDirectory(prefix="httprecap-bytecode-") as staging:
        root = Path(staging)
        for name in sources:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(files[name])
        for interpreter in interpreters:
            _compile_with(interpreter, root, sources, prefix)
        return {path.relative_to(root).as_posix(): path.read_bytes()
                for path in sorted(root.rglob("*.pyc"))}


def _compile_with(interpreter: Interpreter, root: Path, sources: list[str], prefix: str) -> None:
    # A clean environment: no user site, no PYTHONPATH, a fixed seed for reproducible bytes.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONNOUSERSITE"] = "1"
    result = subprocess.run(
        [str(interpreter.path), "-c", _COMPILER, str(root), prefix],
        input="\n".join(sources), capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise HttprecapError(f"python{interpreter.version} could not compile the layer: {last}")
