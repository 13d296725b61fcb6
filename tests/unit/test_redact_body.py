"""Redaction of captured bodies (httprecap.redact.Redactor.body): a sensitive-looking name's
value is never kept, in every format the capture keeps (JSON, form, XML, multipart, plain
text), at any depth, and when the size cap cuts the body."""

from __future__ import annotations

import json

import pytest

from httprecap.redact import MASK, Redactor

redactor = Redactor()
SECRET = "zqSECRETzq1234567890"

STS_ASSUME_ROLE = f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIA{SECRET}</AccessKeyId>
      <SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>{SECRET}</SessionToken>
      <Expiration>2026-12-06T16:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>
  </AssumeRoleResult>
</AssumeRoleResponse>"""


def _masked(body: str | bytes, max_bytes: int = 2048) -> str:
    redacted = Redactor(body_max_bytes=max_bytes).body(body)
    assert redacted is not None
    return redacted


@pytest.mark.parametrize("document", [
    {"user": {"name": "bob", "password": SECRET}},
    {"items": [{"id": 1}, {"id": 2, "token": SECRET}]},
    {"a": {"b": {"c": {"d": [{"client_secret": SECRET}]}}}},
    {"credentials": {"user": "bob", "value": SECRET}},
    {"tokens": [SECRET, SECRET]},
    {"auth": [{"nested": [SECRET]}]},
    {"apiKey": 12345, "session": {"id": SECRET}},
])
@pytest.mark.parametrize("indent", [None, 2])
def test_json_fields_are_masked_at_any_depth(document: dict[str, object],
                                             indent: int | None) -> None:
    body = json.dumps(document, indent=indent).encode()
    redacted = _masked(body)
    assert SECRET not in redacted
    json.loads(redacted)  # still a JSON document


def test_json_keeps_what_is_not_sensitive() -> None:
    body = json.dumps({"user": "bob", "password": SECRET, "n": [1, 2], "ok": True})
    assert json.loads(_masked(body)) == {"user": "bob", "password": MASK, "n": [1, 2],
                                         "ok": True}


def test_json_inside_a_json_string_is_masked() -> None:
    inner = json.dumps({"password": SECRET})
    assert SECRET not in _masked(json.dumps({"body": inner}))


@pytest.mark.parametrize("body", [
    f"<password>{SECRET}</password>",
    f"<login><user>bob</user><Password>{SECRET}</Password></login>",
    f'<Auth user="bob" token="{SECRET}"/>',
    f"<Auth user='bob' api_key='{SECRET}'></Auth>",
    f"<ns:Credentials><ns:Value>{SECRET}</ns:Value></ns:Credentials>",
    f"<secret><![CDATA[{SECRET}]]></secret>",
    f"<token><token>{SECRET}</token>{SECRET}</token>",
    STS_ASSUME_ROLE,
])
def test_xml_elements_and_attributes_are_masked(body: str) -> None:
    assert SECRET not in _masked(body)


def test_sts_credentials_are_masked_and_the_rest_kept() -> None:
    redacted = _masked(STS_ASSUME_ROLE)
    assert f"<SecretAccessKey>{MASK}</SecretAccessKey>" in redacted
    assert f"<SessionToken>{MASK}</SessionToken>" in redacted
    assert "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>" in redacted


def test_multipart_parts_with_sensitive_names_are_masked() -> None:
    body = ("--b0undary\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n"
            "--b0undary\r\nContent-Disposition: form-data; name=\"password\"\r\n"
            f"Content-Type: text/plain\r\n\r\n{SECRET}\r\n"
            "--b0undary\r\nContent-Disposition: form-data; name=note\r\n\r\nhello\r\n"
            "--b0undary--\r\n")
    redacted = _masked(body)
    assert SECRET not in redacted
    assert "\r\n\r\nbob\r\n" in redacted and "\r\n\r\nhello\r\n" in redacted


@pytest.mark.parametrize("body", [
    f"user=bob&client_secret={SECRET}&grant_type=client_credentials",
    f"user=bob&user%5Bpassword%5D={SECRET}",
    f"API_KEY={SECRET}\nREGION=eu-west-1\n",
    f"password: {SECRET}\nregion: eu-west-1\n",
    f"token = '{SECRET}'",
])
def test_form_and_plain_text_fields_are_masked(body: str) -> None:
    assert SECRET not in _masked(body)


@pytest.mark.parametrize("body", [
    json.dumps({"pad": "x" * 90, "password": SECRET * 20}),
    json.dumps({"pad": "x" * 90, "credentials": {"a": [SECRET] * 20}}),
    "<r><pad>" + "x" * 90 + "</pad><SecretAccessKey>" + SECRET * 20 + "</SecretAccessKey></r>",
    "--b\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\n" + "x" * 90
    + "\r\n--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n" + SECRET * 20,
    "pad=" + "x" * 90 + "&token=" + SECRET * 20,
])
def test_a_secret_cut_by_the_size_cap_is_masked(body: str) -> None:
    for cap in (100, 120, 150, 200):
        for window in (len(body), 1124, 140):  # the hot path keeps cap + 1024 bytes
            redacted = _masked(body.encode()[: min(window, cap + 1024)], max_bytes=cap)
            assert "zqSECRET" not in redacted, (cap, window)


def test_a_body_without_secrets_is_kept_as_it_is() -> None:
    body = '{"items": [1, 2, 3], "next": null, "note": "hello <b>world</b>"}'
    assert _masked(body) == body
