"""The README is the user's contract: its configuration table names every setting and default."""

from __future__ import annotations

import re
from pathlib import Path

from httprecap.settings import PREFIX, SETTINGS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _documented_defaults() -> dict[str, str]:
    rows = re.findall(r"^\| `(HTTPRECAP_[A-Z_]+)` \| ([^|]+) \|", README, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def _shown(default: object) -> str:
    if isinstance(default, bool):
        return f"`{int(default)}`"
    if isinstance(default, tuple):
        return f"`{','.join(default)}`" if default else "(none)"
    return f"`{default}`" if default != "" else "(none)"


def test_readme_documents_every_setting_with_its_default() -> None:
    documented = _documented_defaults()
    expected = {PREFIX + setting.name: _shown(setting.default) for setting in SETTINGS}
    assert documented == expected


def test_readme_names_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
