"""Redaction of free text (httprecap.redact.Redactor.text): error messages and log lines keep
no secret, wherever in the text the secret sits and however the message was cut."""

from __future__ import annotations

import pytest

from httprecap.redact import MASK, Redactor

redactor = Redactor()
SECRET = "zqSECRETzq1234567890"

# What the clients raised, word for word, for a header value read from a file without strip()
# ("Bearer <secret>\n" or "<secret>\n"): urllib3, http.client and urllib.request share the
# first; httpx (h11) the second; requests checks before sending, with the third.
CLIENT_MESSAGES = [
    f"Invalid header value b'Bearer {SECRET}\\n'",
    f"Invalid header value b'{SECRET}\\n'",
    f"Illegal header value b'Bearer {SECRET}\\n'",
    f"Illegal header value b'{SECRET}\\n'",
    "Invalid leading whitespace, reserved character(s), or return character(s) in header "
    f"value: 'Bearer {SECRET}\\n'",
    "Invalid leading whitespace, reserved character(s), or return character(s) in header "
    f"value: '{SECRET}\\n'",
    f"Header part ({SECRET!r}) from ('X-Token', {SECRET!r}) must be of type str or bytes, "
    "not <class 'int'>",
]


@pytest.mark.parametrize("message", CLIENT_MESSAGES)
def test_a_header_value_a_client_refused_is_masked(message: str) -> None:
    redacted = redactor.text(message)
    assert SECRET not in redacted
    assert MASK in redacted


@pytest.mark.parametrize("message", [
    f"Authorization: Bearer {SECRET}",
    f"Authorization: {SECRET}",
    f"X-Api-Key: {SECRET}",
    f"sent headers {{'X-Api-Key': '{SECRET}', 'Accept': '*/*'}}",
    f"sent headers {{\"Authorization\": \"Basic {SECRET}\"}}",
    f"[(b'authorization', b'{SECRET}'), (b'host', b'example.com')]",
    f"[('authorization', '{SECRET}')]",
    f"token={SECRET}",
    f"Client(token='{SECRET}', user='bob')",
    f'{{"token": "{SECRET}", "user": "bob"}}',
    f'{{"auth": {{"user": "bob", "pin": "{SECRET}"}}}}',
    f"bearer {SECRET}",
    f"Token {SECRET}",
    f'Digest username="bob", realm="api", nonce="abc", response="{SECRET}"',
    f"Authorization: AWS4-HMAC-SHA256 Credential=AKIA{SECRET}/20260101/us-east-1/s3/"
    f"aws4_request, SignedHeaders=host;x-amz-date, Signature={SECRET}",
    f"AWS4-HMAC-SHA256 Credential=AKIA{SECRET}/20260101, SignedHeaders=host, "
    f"Signature={SECRET}",
    f"AWS AKIAIOSFODNN7EXAMPLE:{SECRET}",
    f"Max retries exceeded with url: /v1?api_key={SECRET}&page=2",
    f"Failed to parse: https://robot:{SECRET}@api.example.com/v1",
    f"Invalid type for parameter SecretString, value: {SECRET}, type: <class 'int'>, "
    "valid types: <class 'str'>",
    f"<Error><Code>Denied</Code><SessionToken>{SECRET}</SessionToken></Error>",
])
def test_a_secret_anywhere_in_a_message_is_masked(message: str) -> None:
    assert SECRET not in redactor.text(message, limit=10_000)


@pytest.mark.parametrize("message", [
    "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /a?page=2 "
    "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: "
    "Failed to establish a new connection: [Errno 111] Connection refused'))",
    "500 Server Error: Internal Server Error for url: https://api.example.com/v1/items",
    "timed out",
    "An error occurred (UnrecognizedClientException) when calling the GetItem operation: "
    "The security token included in the request is invalid.",
    "[SSL] failed to negotiate mutual TLS with the peer: sha256 digest mismatch",
])
def test_a_message_without_secrets_is_kept_as_it_is(message: str) -> None:
    assert redactor.text(message, limit=10_000) == message


def test_the_message_around_a_masked_value_is_kept() -> None:
    message = f"Invalid header value b'Bearer {SECRET}\\n' (and more)"
    assert redactor.text(message) == f"Invalid header value b'{MASK}' (and more)"


@pytest.mark.parametrize("template", [
    "Invalid header value b'Bearer {}\\n'",
    "Illegal header value b'{}\\n'",
    "{{'X-Api-Key': '{}'}}",
    '{{"token": "{}"}}',
    "Authorization: {}",
    "password={}&user=bob",
    "https://robot:{}@api.example.com/",
])
def test_a_secret_cut_short_by_the_message_limit_is_still_masked(template: str) -> None:
    # The hot path keeps the first 2000 characters of a message; the cut may fall anywhere
    # in the secret, leaving an unclosed quote or bracket behind.
    padding = "x" * 40 + " "
    message = padding + template.format(SECRET)
    start = message.index(SECRET)
    for cut in range(start + 8, start + len(SECRET) + 1):
        assert "zqSECRET" not in redactor.text(message[:cut], limit=10_000), cut


def test_the_limit_applies_after_redaction() -> None:
    message = "x" * 290 + f" token={SECRET}"
    redacted = redactor.text(message)
    assert len(redacted) <= 300 and "zqSECR" not in redacted


def test_extra_patterns_name_more_secrets() -> None:
    custom = Redactor(["^acct"])
    assert SECRET not in custom.text(f"acct_no={SECRET}")


def test_header_values_that_carry_a_url_are_redacted_like_urls() -> None:
    headers = redactor.headers([("Location", f"https://app.example.com/cb?code={SECRET}&x=1"),
                                ("Vary", "Accept-Encoding, Cookie")])
    assert headers == {"Location": f"https://app.example.com/cb?code={MASK}&x=1",
                       "Vary": "Accept-Encoding, Cookie"}


def test_a_host_header_loses_its_user_info_and_any_credential_it_carries() -> None:
    """http.client sends the Host it was given, user-info included; the value is free text
    after that like any other header's."""
    headers = redactor.headers([("Host", f"user:{SECRET}@db.example.com:5984"),
                                ("host", f"Bearer {SECRET}"), ("HOST", "api.example.com")])
    assert headers == {"Host": "db.example.com:5984", "host": f"Bearer {MASK}",
                       "HOST": "api.example.com"}
