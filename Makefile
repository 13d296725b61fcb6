# The two commands a newcomer needs: `make demo` (the main job) and `make test`.
.PHONY: setup demo test test-all check layer bench bench-check conformance conformance-ci clean

setup:
	@bash scripts/setup.sh --system

demo: setup
	@.venv/bin/httprecap demo

check: setup
	.venv/bin/ruff check .
	.venv/bin/python scripts/typecheck.py

test: check
	.venv/bin/python -m pytest -q -m "not slow"

test-all: check
	.venv/bin/python -m pytest -q
	.venv/bin/python -m conformance

layer: setup
	.venv/bin/httprecap layer build

bench: setup
	.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[bench]'
	.venv/bin/python -m bench

# CI's regression guard (not a timed test): a quick run of the same suite, non-zero when
# httprecap's overhead passes the generous bounds of bench/targets.py.
bench-check: setup
	.venv/bin/python -m bench --quick --check

# The HTTP clients' own test suites with the capture on and off, compared test by test
# (needs root for a loopback-only network namespace; fetches the suites from PyPI).
conformance: setup
	.venv/bin/python -m conformance

# CI's share: the same, with a fixed part of botocore's suite.
conformance-ci: setup
	.venv/bin/python -m conformance --ci

clean:
	rm -rf build dist .venv .pytest_cache .mypy_cache .ruff_cache
