"""`httprecap layer` (dev-time). Placeholder until its issue lands."""

from __future__ import annotations

import argparse
from typing import Any

from httprecap.errors import HttprecapError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("layer", help="(not available yet)")
    parser.set_defaults(func=execute)


def execute(args: argparse.Namespace) -> int:
    raise HttprecapError("'layer' is not available yet")
