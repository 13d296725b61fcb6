"""`httprecap run`/`serve` options that map onto FunctionConfig (no sandbox is started)."""

from __future__ import annotations

import argparse

from httprecap.cli.run import add_function_options, config_from_args
from httprecap.sandbox import FunctionConfig


def _config(*options: str) -> FunctionConfig:
    parser = argparse.ArgumentParser()
    add_function_options(parser)
    config: FunctionConfig = config_from_args(
        parser.parse_args(["--code", "fn", "--handler", "app.h", *options]))
    return config


def test_no_telemetry_answers_subscriptions_like_sam_local() -> None:
    assert _config("--no-telemetry").telemetry_supported is False
    assert _config().telemetry_supported is True


def test_memory_defaults_to_lambdas_least_for_the_mode() -> None:
    assert _config().memory_size_mb == 128
    assert _config("--max-concurrency", "4").memory_size_mb == 2048
    assert _config("--max-concurrency", "4", "--memory", "4096").memory_size_mb == 4096
    assert _config("--memory", "512").memory_size_mb == 512
