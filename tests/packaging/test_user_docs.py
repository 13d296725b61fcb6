"""The documents are written for users: short where they report figures, in the present tense
(no issue numbers, no history), their links to each other's sections valid, and the Python
range they state the one the layer is built for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from httprecap.layer.publish import COMPATIBLE_RUNTIMES
from httprecap.layer.vendor import PYTHON_TAGS

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
               *(ROOT / "examples").glob("**/README*")])
HISTORY = re.compile(r"\bissues?\b|(?<![\w#(/])#\d+(?![\w-])|\bwas fixed\b|: fixed\b|\bused to\b"
                     r"|\bpreviously\b|\bno longer\b", re.IGNORECASE)
LINK = re.compile(r"\]\(([^)\s#]*)#([^)\s]+)\)")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of `path`: lower case, punctuation dropped, spaces
    turned into hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("name", ["BENCHMARKS.md", "RELIABILITY.md"])
def test_the_pages_that_report_figures_are_short(name: str) -> None:
    assert len((ROOT / "docs" / name).read_text().splitlines()) < 150


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_a_doc_tells_no_history_and_names_no_issue(doc: Path) -> None:
    found = [m.group(0) for m in HISTORY.finditer(doc.read_text())]
    assert found == []


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_link_to_a_section_finds_its_heading(doc: Path) -> None:
    for target, anchor in LINK.findall(doc.read_text()):
        linked = (doc.parent / target).resolve() if target else doc
        assert anchor in _anchors(linked), f"{target}#{anchor}"


def test_the_readme_states_the_pythons_the_layer_is_built_for() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [f"python3.{tag[1:]}" for tag in PYTHON_TAGS] == list(COMPATIBLE_RUNTIMES)
    assert f"{COMPATIBLE_RUNTIMES[0]} \u2013 {COMPATIBLE_RUNTIMES[-1]}" in readme  # an en dash
    assert repr(list(COMPATIBLE_RUNTIMES)).replace("'", '"') in readme  # the Terraform example
