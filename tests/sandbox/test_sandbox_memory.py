"""The out-of-memory line: its figures agree with one another whatever the rounding."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace
from typing import Any, cast

from httprecap.sandbox.memory import MIB, out_of_memory_line


def figures(line: str) -> tuple[int, int, int]:
    found = re.search(r"the environment held (\d+) MB, over its memory size of (\d+) MB; the "
                      r"runtime held (\d+) MB", line)
    assert found is not None, line
    environment, size, runtime = (int(group) for group in found.groups())
    return environment, size, runtime


def test_an_environment_just_over_its_size_is_said_to_be_over_it() -> None:
    runtime = cast(Any, SimpleNamespace(name="runtime", pid=os.getpid()))
    environment, size, held = figures(out_of_memory_line(128, 128 * MIB + 1, [runtime]))
    assert size == 128 and environment > 128 and held <= environment


def test_the_environment_is_never_said_to_hold_less_than_its_largest_tree() -> None:
    runtime = cast(Any, SimpleNamespace(name="runtime", pid=os.getpid()))
    environment, _, held = figures(out_of_memory_line(1, 2 * MIB, [runtime]))
    assert held <= environment and held > 2
