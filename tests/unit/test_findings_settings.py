"""Settings: the findings' knobs parse, and a bad value warns and keeps the default."""

from __future__ import annotations

from httprecap.settings import FINDING_KINDS, Settings


def test_findings_are_on_by_default_with_documented_thresholds() -> None:
    settings = Settings.from_environ({})
    assert settings.findings is True and settings.findings_off == ()
    assert (settings.findings_repeated_min, settings.findings_sequential_ms,
            settings.findings_large_bytes, settings.findings_http_share) == (5, 100, 1 << 20, 0.8)


def test_findings_can_be_switched_off_whole_or_by_kind() -> None:
    settings = Settings.from_environ({"HTTPRECAP_FINDINGS": "off",
                                      "HTTPRECAP_FINDINGS_OFF": " HTTP-bound , slow-call"})
    assert settings.findings is False
    assert settings.findings_off == ("http-bound", "slow-call")
    assert settings.warnings == ()


def test_an_unknown_kind_warns_and_leaves_every_kind_on() -> None:
    settings = Settings.from_environ({"HTTPRECAP_FINDINGS_OFF": "slow-call,n-plus-one"})
    assert settings.findings_off == ()
    assert "unknown kind 'n-plus-one'" in settings.warnings[0]


def test_bad_thresholds_warn_and_keep_their_defaults() -> None:
    settings = Settings.from_environ({
        "HTTPRECAP_FINDINGS_REPEATED_MIN": "1", "HTTPRECAP_FINDINGS_SEQUENTIAL_SHARE": "1.5",
        "HTTPRECAP_FINDINGS_SLOW_FACTOR": "nan", "HTTPRECAP_FINDINGS_HTTP_SHARE": "most",
        "HTTPRECAP_FINDINGS": "maybe"})
    assert (settings.findings_repeated_min, settings.findings_sequential_share,
            settings.findings_slow_factor, settings.findings_http_share,
            settings.findings) == (5, 0.1, 3.0, 0.8, True)
    assert len(settings.warnings) == 5


def test_kinds_are_the_documented_ones() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "FINDINGS.md").read_text()
    headings = [line[4:].strip("` ").split("`")[0] for line in doc.splitlines()
                if line.startswith("## `")]
    assert tuple(headings) == FINDING_KINDS
