"""Fixtures for the conformance harness's tests: `conformance/` is importable from the checkout,
and so are the external extension's wire-message helpers."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests" / "external"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
