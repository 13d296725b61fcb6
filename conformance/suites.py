"""Conformance: which clients' suites run, from which sdist folders, with which pytest options.

One `Suite` per client. `paths` are what pytest is given (relative to the sdist's root);
`ci_paths`, when set, is the fixed part of a long suite that CI runs instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# aiohttp's tests cover its server too; these files exercise the client side.
AIOHTTP_CLIENT_FILES = tuple(f"tests/test_{name}.py" for name in (
    "client_connection", "client_exceptions", "client_fingerprint", "client_functional",
    "client_middleware", "client_middleware_digest_auth", "client_proto", "client_request",
    "client_response", "client_session", "client_ws", "client_ws_functional", "connector",
    "proxy", "proxy_functional", "resolver", "tracing",
))


@dataclass(frozen=True)
class Suite:
    """One client's test suite as its sdist ships it."""

    name: str  # the distribution on PyPI
    paths: tuple[str, ...]
    copy: tuple[str, ...]  # sdist entries a run needs (tests, their helpers, pytest config)
    options: tuple[str, ...] = ()
    ci_paths: tuple[str, ...] = ()
    # Test dependencies from PyPI, beyond pytest and the five clients themselves.
    requires: tuple[str, ...] = field(default=())

    def selected(self, ci: bool) -> tuple[str, ...]:
        return self.ci_paths if ci and self.ci_paths else self.paths


SUITES = (
    Suite("requests", ("tests",), ("tests", "pyproject.toml", "requirements-dev.txt"),
          requires=("pytest-httpbin==2.1.0", "httpbin~=0.10.0", "PySocks", "trustme",
                    "pytest-mock")),
    Suite("urllib3", ("test",), ("test", "dummyserver", "pyproject.toml"),
          # This test compares thread ids the system may reuse, and its threads can deadlock
          # on a loaded machine: it fails or hangs with the capture off as often as on.
          options=("-k", "not test_http2_probe_blocked_per_thread"),
          requires=("anyio[trio]", "h2", "hypercorn", "PySocks", "pytest-socket",
                    "pytest-timeout", "quart", "quart-trio", "trio", "trustme", "cryptography",
                    "pyopenssl", "idna", "brotli", "backports.zstd")),
    Suite("httpx", ("tests",), ("tests", "pyproject.toml"),
          options=("-m", "not network"),  # its marker for tests that need the internet
          # chardet as httpx's own requirements pin it: later ones name some charsets otherwise.
          requires=("uvicorn", "chardet==5.2.0", "zstandard", "socksio", "click==8.*", "rich",
                    "pygments", "h2", "brotli", "trio", "anyio", "trustme", "cryptography")),
    Suite("aiohttp", AIOHTTP_CLIENT_FILES, ("tests", "pytest.ini"),
          # Its addopts want xdist, coverage and doctests of the package; keep its markers.
          options=("-o", "addopts=", "--strict-markers",
                   "-m", "not dev_mode and not autobahn and not internal"),
          requires=("pytest-mock", "pytest-timeout", "freezegun", "trustme", "proxy.py",
                    "blockbuster", "pytest-codspeed", "isal", "zlib-ng", "brotli", "aiodns",
                    "coverage")),
    Suite("botocore", ("tests/unit", "tests/functional"),
          ("tests", "pyproject.toml", "setup.cfg"),
          # Stubbed API calls never reach the wire, so leave no record (by design); the
          # session's tests look for the instance metadata service, which the capture records
          # failing to connect inside the namespace.
          ci_paths=("tests/unit/test_client.py", "tests/unit/test_session.py",
                    "tests/functional/test_s3.py"),
          requires=("jsonschema==4.23.0",)),
)
# Every suite's run also needs these.
COMMON_REQUIRES = ("pytest", "pytest-reportlog", "pytest-timeout")


def by_name(names: list[str] | None) -> tuple[Suite, ...]:
    """The suites named (all when none is), in SUITES' order; ValueError for an unknown name."""
    if not names:
        return SUITES
    unknown = sorted(set(names) - {suite.name for suite in SUITES})
    if unknown:
        raise ValueError(f"unknown suite(s): {', '.join(unknown)}")
    return tuple(suite for suite in SUITES if suite.name in names)
