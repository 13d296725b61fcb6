"""httprecap's own settings never reach its logs in clear: a sink URL with user-info or a key
in its query, a malformed HTTPRECAP_HTTP_HEADERS, in the warnings of both processes and in the
sink failures the extension logs."""

from __future__ import annotations

import pytest

from httprecap.external import log
from httprecap.external.ship.http_post import HttpSink
from httprecap.external.ship.otlp import OtlpSink
from httprecap.external.ship.registry import build_sinks
from httprecap.internal import bootstrap
from httprecap.settings import Settings

SECRET = "zqSECRETzq1234567890"


@pytest.mark.parametrize("value", [f"Authorization: Bearer {SECRET}", f"X-Team=core,{SECRET}",
                                   SECRET])
def test_a_malformed_http_headers_setting_is_warned_about_without_its_value(value: str) -> None:
    settings = Settings.from_environ({"HTTPRECAP_HTTP_HEADERS": value})
    (warning,) = settings.warnings
    assert SECRET not in warning
    assert warning.startswith("HTTPRECAP_HTTP_HEADERS=<not shown> ignored (expected Name=value")


def test_another_malformed_value_is_shown_redacted() -> None:
    settings = Settings.from_environ({"HTTPRECAP_PORT": f"token={SECRET}"})
    (warning,) = settings.warnings
    assert SECRET not in warning and "HTTPRECAP_PORT='token=REDACTED'" in warning


def test_the_function_process_warns_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(values={"REDACT": ()}, warnings=(
        f"HTTPRECAP_SINKS: 'http://robot:{SECRET}@example.com' ignored",))
    bootstrap._warn(settings)
    said = capsys.readouterr().err
    assert SECRET not in said and "http://example.com" in said


@pytest.mark.parametrize(("sink", "name"), [
    (HttpSink(f"https://robot:{SECRET}@logs.example.com/in?api_key={SECRET}"),
     "https://logs.example.com/in"),
    (OtlpSink(f"otlp+http://robot:{SECRET}@127.0.0.1:4318/v1/traces"),
     "otlp+http://127.0.0.1:4318/v1/traces"),
])
def test_a_sink_is_named_without_user_info_or_query(sink: HttpSink | OtlpSink,
                                                    name: str) -> None:
    assert sink.name == name


def test_an_unknown_sink_is_logged_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    _, warnings = build_sinks((f"bogus://robot:{SECRET}@example.com/?token={SECRET}",), (), {})
    for warning in warnings:
        log.warning(warning)
    said = capsys.readouterr().err
    assert said.startswith("[httprecap] warning: HTTPRECAP_SINKS:") and SECRET not in said


def test_every_extension_log_line_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    log.error(f"shipping failed: ValueError: Invalid header value b'Bearer {SECRET}\\n'")
    said = capsys.readouterr().err
    assert SECRET not in said and said.startswith("[httprecap] error: shipping failed")
