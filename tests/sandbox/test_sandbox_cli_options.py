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


def test_the_logging_options_are_the_functions_logging_config() -> None:
    config = _config("--log-format", "JSON", "--application-log-level", "warn",
                     "--system-log-level", "debug")
    assert (config.logging.log_format, config.logging.application_level,
            config.logging.system_level) == ("JSON", "WARN", "DEBUG")
    assert _config().logging.log_format == "Text"
    assert _config("--max-concurrency", "2").logging.log_format == "JSON"


def test_tenant_id_makes_a_tenant_isolated_function() -> None:
    assert _config("--tenant-id", "blue").tenant_id == "blue"
    assert _config().tenant_id is None
