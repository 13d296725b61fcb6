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
