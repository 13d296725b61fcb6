"""Errors: the one exception root of httprecap's tools (dev-time processes).

    HttprecapError            anything the CLI reports as one line and a non-zero exit
     └── UsageError           bad input from the user (exit 2)

Layer code (internal/external) never raises these into a user's function: it fails open.
"""

from __future__ import annotations


class HttprecapError(Exception):
    """An error the command line prints as one line, exiting with `exit_code`."""

    exit_code = 1


class UsageError(HttprecapError):
    """The user's input is wrong (a missing directory, a malformed option)."""

    exit_code = 2
