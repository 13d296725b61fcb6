"""Settings: every HTTPRECAP_* variable parses, and a bad value falls back with a warning."""

from __future__ import annotations

from httprecap.settings import SETTINGS, Settings


def test_defaults_without_environment() -> None:
    settings = Settings.from_environ({})
    assert settings.sinks == ("stdout",)
    assert settings.disabled is False
    assert settings.warnings == ()


def test_values_are_parsed() -> None:
    settings = Settings.from_environ({
        "HTTPRECAP_DISABLED": "yes", "HTTPRECAP_PORT": "9500",
        "HTTPRECAP_SINKS": "stdout, file:///tmp/x.jsonl",
        "HTTPRECAP_HTTP_HEADERS": "Authorization=Bearer x,X-Team=core",
    })
    assert settings.disabled is True
    assert settings.port == 9500
    assert settings.sinks == ("stdout", "file:///tmp/x.jsonl")
    assert settings.http_headers == (("Authorization", "Bearer x"), ("X-Team", "core"))


def test_malformed_value_warns_and_keeps_default() -> None:
    settings = Settings.from_environ({"HTTPRECAP_PORT": "eighty", "HTTPRECAP_DISABLED": "maybe"})
    assert settings.port == 9399
    assert settings.disabled is False
    assert len(settings.warnings) == 2
    assert any("HTTPRECAP_PORT=" in warning for warning in settings.warnings)


def test_reserved_runtime_api_port_is_refused() -> None:
    settings = Settings.from_environ({"HTTPRECAP_PORT": "9001"})
    assert settings.port == 9399
    assert "reserved" in settings.warnings[0]


def test_unknown_variable_is_reported() -> None:
    settings = Settings.from_environ({"HTTPRECAP_SINK": "stdout"})
    assert settings.warnings == ("HTTPRECAP_SINK is not an httprecap setting; ignored",)


def test_every_setting_documents_itself() -> None:
    assert all(setting.doc.endswith(".") for setting in SETTINGS)


def test_keep_is_all_or_notable_in_any_case() -> None:
    assert Settings.from_environ({}).keep == "all"
    assert Settings.from_environ({"HTTPRECAP_KEEP": " Notable "}).keep == "notable"


def test_a_bad_keep_value_warns_and_keeps_everything() -> None:
    settings = Settings.from_environ({"HTTPRECAP_KEEP": "errors",
                                      "HTTPRECAP_KEEP_SLOW_MS": "-5"})
    assert (settings.keep, settings.keep_slow_ms) == ("all", 1000)
    assert "HTTPRECAP_KEEP='errors' ignored (expected all or notable)" in settings.warnings[0]
    assert "HTTPRECAP_KEEP_SLOW_MS='-5' ignored" in settings.warnings[1]
