"""Redaction rules (httprecap.redact): secrets never leave the function process."""

from __future__ import annotations

import pytest

from httprecap.redact import MASK, Redactor

redactor = Redactor()


def test_user_info_is_stripped_from_urls() -> None:
    assert redactor.url("https://bob:hunter2@example.com/a") == "https://example.com/a"


def test_fragment_is_dropped() -> None:
    assert redactor.url("https://example.com/cb#access_token=abc") == "https://example.com/cb"


@pytest.mark.parametrize("name", [
    "signature", "Signature", "credential", "token", "access_token", "api_key", "apikey",
    "secret", "client_secret", "password", "passwd", "session", "sessionid", "code", "auth",
    "authorization", "sig", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
    "X-Amz-Date", "X-Amz-Algorithm", "X-Amz-SignedHeaders", "AWSAccessKeyId",
])
def test_sensitive_query_values_are_masked(name: str) -> None:
    url = f"https://example.com/a?limit=10&{name}=s3cr3t&page=2"
    assert redactor.url(url) == f"https://example.com/a?limit=10&{name}={MASK}&page=2"


def test_presigned_s3_url_keeps_no_signing_value() -> None:
    url = ("https://bucket.s3.amazonaws.com/key.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
           "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
           "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
           "&X-Amz-Security-Token=FwoGZXIvYXdzE&X-Amz-Signature=deadbeef")
    redacted = redactor.url(url)
    for secret in ("AKIAEXAMPLE", "FwoGZXIvYXdzE", "deadbeef"):
        assert secret not in redacted
    assert redacted.startswith("https://bucket.s3.amazonaws.com/key.txt?")


def test_ordinary_query_values_are_kept() -> None:
    url = "https://example.com/search?q=lambda&limit=5"
    assert redactor.url(url) == url


def test_extra_patterns_from_httprecap_redact() -> None:
    custom = Redactor(["^acct", "ssn$"])
    assert custom.url("https://e.com/?acct_no=1&user_ssn=2&x=3") == (
        f"https://e.com/?acct_no={MASK}&user_ssn={MASK}&x=3")


def test_invalid_extra_pattern_is_ignored_and_reported() -> None:
    custom = Redactor(["(unclosed"])
    assert custom.invalid_patterns == ("(unclosed",)
    assert custom.url("https://e.com/?x=1") == "https://e.com/?x=1"


def test_error_text_echoing_urls_is_redacted() -> None:
    message = ("HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded "
               "with url: /v1?api_key=s3cr3t&x=1 (Caused by https://u:pw@proxy/x?token=t0k)")
    redacted = redactor.text(message)
    assert "s3cr3t" not in redacted and "pw@" not in redacted and "t0k" not in redacted
    assert "x=1" in redacted and "api.example.com" in redacted


def test_error_text_is_shortened() -> None:
    assert len(redactor.text("x" * 5000)) <= 300


@pytest.mark.parametrize("name", [
    "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Amz-Security-Token",
    "X-Api-Key", "X-Auth-Token", "X-Goog-Session",
])
def test_secret_headers_are_always_masked(name: str) -> None:
    assert redactor.headers([(name, "s3cr3t")]) == {name: MASK}


def test_ordinary_headers_are_kept() -> None:
    headers = [("Content-Type", "application/json"), ("X-Amz-Date", "20260101T000000Z")]
    assert redactor.headers(headers) == dict(headers)


def test_json_body_fields_are_masked() -> None:
    body = b'{"user": "bob", "password": "hunter2", "apiKey": 12345, "n": 1}'
    assert redactor.body(body) == (
        f'{{"user": "bob", "password": "{MASK}", "apiKey": "{MASK}", "n": 1}}')


def test_form_body_fields_are_masked() -> None:
    assert redactor.body("user=bob&client_secret=xyz&grant_type=x") == (
        f"user=bob&client_secret={MASK}&grant_type=x")


def test_long_body_is_truncated_with_marker() -> None:
    body = Redactor(body_max_bytes=100).body(b"a" * 1000)
    assert body is not None
    assert body.startswith("a" * 100) and body.endswith("…[truncated 900 bytes]")


def test_secret_cut_by_the_cap_is_still_masked() -> None:
    body = b'{"pad": "' + b"x" * 80 + b'", "token": "' + b"s" * 500 + b'"}'
    redacted = Redactor(body_max_bytes=100).body(body)
    assert redacted is not None and "sss" not in redacted
