"""The typed definitions of the records agree with the contracts they describe, checked on the
source: the recap's types (core/recap_schema.py) with docs/RECAP.md's field tables, and the
wire's (core/wire.py) with the checks the extension runs (`CALL_FIELDS`, `check_end`).

The types are `TypedDict`s that exist for mypy only, so they are read from the source with
`ast`; a field is a class's annotated name, inherited ones included, required unless its class
says `total=False`."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from httprecap import wire

ROOT = Path(__file__).resolve().parents[2]
RECAP_DOC = ROOT / "docs" / "RECAP.md"


def _classes() -> dict[str, ast.ClassDef]:
    found: dict[str, ast.ClassDef] = {}
    for name in ("wire.py", "recap_schema.py"):
        tree = ast.parse((ROOT / "core" / name).read_text())
        found.update({node.name: node for node in ast.walk(tree)
                      if isinstance(node, ast.ClassDef)})
    return found


CLASSES = _classes()


def fields(name: str, *, required_only: bool = False) -> set[str]:
    """The keys of TypedDict `name`, its bases' included."""
    node = CLASSES[name]
    total = not any(keyword.arg == "total" and isinstance(keyword.value, ast.Constant)
                    and keyword.value.value is False for keyword in node.keywords)
    names: set[str] = set()
    if total or not required_only:
        names = {item.target.id for item in node.body
                 if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in CLASSES:
            names |= fields(base.id, required_only=required_only)
    return names


def documented(heading: str) -> set[str]:
    """The field names in the first column of the table under `heading` in docs/RECAP.md."""
    lines = RECAP_DOC.read_text().splitlines()
    start = lines.index(heading) + 1
    names: set[str] = set()
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if line.startswith("| `"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize(("heading", "type_name"), [
    ("## Invocation fields", "Recap"),
    ("## Call fields", "RecapCall"),
    ("## Summary fields", "RecapSummary"),
])
def test_recap_types_have_the_fields_docs_recap_lists(heading: str, type_name: str) -> None:
    listed = documented(heading)
    assert len(listed) > 5  # the table was found and read
    assert fields(type_name) == listed


def test_wire_call_type_has_the_fields_the_extension_checks() -> None:
    assert fields("WireCall") == set(wire.CALL_FIELDS)
    assert fields("WireCall", required_only=True) == set(wire.REQUIRED_CALL_FIELDS)


def test_end_message_type_has_the_fields_check_end_reads() -> None:
    optional = set(wire._END_FIELDS)
    assert fields("EndMessage", required_only=True) == {"k", "requestId", "status", "calls"}
    assert fields("EndMessage") - fields("EndMessage", required_only=True) == optional


def test_every_message_kind_has_its_type() -> None:
    kinds = {ast.literal_eval(item.annotation.slice)
             for node in CLASSES.values() for item in node.body
             if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
             and item.target.id == "k" and isinstance(item.annotation, ast.Subscript)}
    assert kinds == set(wire.KINDS)


def test_the_types_cost_nothing_at_run_time() -> None:
    """They are mypy's: at run time neither module defines them, nor imports `typing`."""
    script = ("import sys, httprecap.wire as w, httprecap.recap_schema as r; "
              "print(hasattr(w, 'WireCall'), hasattr(r, 'Recap'), 'typing' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False", "False"]
