"""Conformance: the HTTP clients' own test suites, run with and without the capture (dev tools).

`python -m conformance` (or `make conformance`) runs the test suites of requests, urllib3, httpx,
aiohttp (its client-side tests) and botocore (unit and functional) as published in each
client's sdist, for the versions installed in the project's venv, twice:

- **off**: ``python -m pytest ...``;
- **on**: ``<layer>/httprecap-wrapper python -m pytest ...``, the layer as built by
  ``httprecap layer build`` and unpacked where Lambda would put it, with a collector on loopback
  (httprecap's own collector and aggregator) that counts the call records it accepts.

Both runs happen in network namespaces that hold only loopback (``unshare --net``), so nothing
these suites try reaches anything but 127.0.0.1. The outcomes are compared test by test (from
pytest's report log); tests that differ are re-run, file by file, in both modes before they are
called a difference (or flaky). The exit status is non-zero when an outcome differs or when the
capture recorded no call for a suite (so it cannot pass with the capture off).

Everything it fetches or builds lives under ``build/conformance/`` (sdists, extracted tests, a
venv with the same client versions plus the suites' test dependencies, the unpacked layer,
per-run logs), so reruns are fast.

Example::

    python -m conformance                    # every suite, botocore in full
    python -m conformance --ci               # CI's share: botocore's part in CI_PATHS
    python -m conformance --suite requests   # one suite
"""
