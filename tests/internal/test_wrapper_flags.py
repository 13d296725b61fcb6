"""The two switches read before httprecap's settings are: the exec wrapper's
HTTPRECAP_DISABLED (a shell script, so a parser of its own) and sitecustomize's
HTTPRECAP_CAPTURE_SUBPROCESSES. Each takes a value as true exactly when core/settings.py does.

Run as Lambda runs them: `httprecap-wrapper python ...` over a layer laid out as the built one
(the `layer` fixture of test_wrapper.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_wrapper import _environ, layer  # noqa: F401  (the fixture, used by name)

from httprecap.settings import Settings

SPELLINGS = ["1", "true", "True", "TRUE", "yes", "Yes", "on", "ON", " true", "on\n", "\tyes ",
             "0", "false", "no", "off", "", " ", "2", "tru", "y", "enabled", "1 1", "'1'"]

PYTHONPATH_PROBE = "import os; print(os.environ.get('PYTHONPATH') or '')"


def _settings_say(name: str, raw: str) -> bool:
    value: bool = getattr(Settings.from_environ({f"HTTPRECAP_{name}": raw}), name.lower())
    return value


def _pythonpath_seen(layer: Path, **extra: str) -> str:  # noqa: F811
    done = subprocess.run([str(layer / "httprecap-wrapper"), sys.executable, "-c",
                           PYTHONPATH_PROBE], env=_environ(**extra), capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("shell", ["sh", "bash"])  # Lambda's /bin/sh is bash; Debian's, dash
@pytest.mark.parametrize("raw", SPELLINGS)
def test_the_wrapper_reads_disabled_as_the_settings_do(layer: Path, shell: str,  # noqa: F811
                                                       raw: str) -> None:
    # Disabled, the wrapper only execs: PYTHONPATH never names the layer's directories.
    done = subprocess.run([shell, str(layer / "httprecap-wrapper"), "/usr/bin/env"],
                          env=_environ(HTTPRECAP_DISABLED=raw), capture_output=True,
                          text=True, timeout=60, check=True)
    wrapper_disabled = "_HTTPRECAP_PATHS=" not in done.stdout
    assert wrapper_disabled == _settings_say("DISABLED", raw)


@pytest.mark.parametrize("raw", SPELLINGS)
def test_sitecustomize_reads_capture_subprocesses_as_the_settings_do(
        layer: Path, raw: str) -> None:  # noqa: F811
    # On, children are given the layer's directories on PYTHONPATH so they load us too.
    seen = _pythonpath_seen(layer, HTTPRECAP_CAPTURE_SUBPROCESSES=raw)
    assert ("httprecap" in seen) == _settings_say("CAPTURE_SUBPROCESSES", raw)
