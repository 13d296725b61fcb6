"""Redaction rules (httprecap.redact): secrets never leave the function process, neither in
the rules alone nor through the capture of each real client and the record encoder."""

from __future__ import annotations

import asyncio
import http.client
import json
import string
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import pytest
import requests
import urllib3
from call_support import encoded_call
from hypothesis import given, settings
from hypothesis import strategies as st

from httprecap.internal.capture.call import Call, local
from httprecap.internal.transport.encode import Encoder
from httprecap.redact import MASK, Redactor

if TYPE_CHECKING:
    from conftest import Capture

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


# ------------------------------------------------ a token read from a file without strip()

SECRET = "zqSECRETzq1234567890"


def _client_calls(server: str) -> dict[str, Callable[[str, str], object]]:
    """Each client sending one header with a trailing newline: every one refuses it with an
    exception whose text repeats the header's value."""
    host = server.split("://", 1)[1]

    def with_http_client(name: str, value: str) -> object:
        connection = http.client.HTTPConnection(host, timeout=5)
        try:
            connection.request("GET", "/ok", headers={name: value})
            return connection.getresponse().read()
        finally:
            connection.close()

    def with_urllib_request(name: str, value: str) -> object:
        request = urllib.request.Request(f"{server}/ok", headers={name: value})
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.read()

    def with_httpx_async(name: str, value: str) -> object:
        async def send() -> object:
            async with httpx.AsyncClient() as client:
                return await client.get(f"{server}/ok", headers={name: value})
        return asyncio.run(send())

    def with_aiohttp(name: str, value: str) -> object:
        async def send() -> object:
            async with aiohttp.ClientSession() as session, \
                    session.get(f"{server}/ok", headers={name: value}) as reply:
                return await reply.read()
        return asyncio.run(send())

    return {
        "requests": lambda n, v: requests.get(f"{server}/ok", headers={n: v}, timeout=5),
        "aiohttp": with_aiohttp,
        "urllib3": lambda n, v: urllib3.PoolManager().request("GET", f"{server}/ok",
                                                              headers={n: v}),
        "httpx": lambda n, v: httpx.get(f"{server}/ok", headers={n: v}),
        "httpx-async": with_httpx_async,
        "http.client": with_http_client,
        "urllib.request": with_urllib_request,
    }


@pytest.mark.parametrize("client", ["requests", "urllib3", "httpx", "httpx-async",
                                    "http.client", "urllib.request", "aiohttp"])
@pytest.mark.parametrize("header", [("Authorization", f"Bearer {SECRET}\n"),
                                    ("X-Api-Key", f"{SECRET}\n"),
                                    ("X-Custom", f"Basic {SECRET}\r\n")])
def test_a_header_value_a_client_refuses_leaves_no_secret_in_the_record(
        installed: Capture, server: str, client: str, header: tuple[str, str]) -> None:
    with pytest.raises(Exception) as raised:  # each client raises its own
        _client_calls(server)[client](*header)
    # What the user sees repeats the value (aiohttp's message does not).
    assert (SECRET in str(raised.value)) == (client != "aiohttp")
    calls = installed.calls()
    # requests refuses before sending (no call); the others' calls carry the error.
    assert calls or client == "requests"
    for call in calls:
        assert call["error"] is not None
        assert SECRET not in json.dumps(call)


# ------------------------------------------------------------- the record encoder, property

MARKER = "zqLEAK"
secrets = st.text(string.ascii_letters + string.digits, min_size=12, max_size=20).map(
    lambda tail: MARKER + tail)
names = st.sampled_from(["token", "password", "X-Api-Key", "client_secret", "SessionToken",
                         "db_pass", "Authorization", "sig"])


@st.composite
def calls_with_secrets(draw: st.DrawFn) -> Call:
    """A finished call with a secret in its URL, error, headers and bodies."""
    secret, name = draw(secrets), draw(names)
    call = Call("urllib3", local.slot)
    call.method = "POST"
    call.target = draw(st.sampled_from([
        f"https://robot:{secret}@api.example.com/v1", f"https://api.example.com/v1?{name}="
        f"{secret}&page=2", f"https://api.example.com/v1#access_token={secret}"]))
    call.error = ("ValueError", draw(st.sampled_from([
        f"Invalid header value b'Bearer {secret}\\n'", f"Illegal header value b'{secret}'",
        f"{{'{name}': '{secret}'}}", f"{name}={secret}", f"{name}: {secret}"])))
    call.request_headers = [("Accept", "*/*"), (name, secret)]
    call.response_headers = [("Set-Cookie", f"sid={secret}"),
                             ("Location", f"https://app.example.com/cb?code={secret}")]
    call.request_body = draw(st.sampled_from([
        json.dumps({"user": "bob", "nested": [{name: secret}]}).encode(),
        f"<r><{name}>{secret}</{name}></r>".encode(), f"a=1&{name}={secret}"]))
    call.response_body = json.dumps({"Credentials": {"SecretAccessKey": secret}}).encode()
    return call


@settings(max_examples=200, deadline=None)
@given(calls_with_secrets())
def test_an_encoded_call_record_keeps_no_secret(call: Call) -> None:
    encoder = Encoder(Redactor())
    written = encoder.calls(call.request_id)
    encoder.add_call(written, call)
    message = written.message()
    assert MARKER not in message
    record = encoded_call(call)
    assert record["error"]["type"] == "ValueError" and record["requestBody"]


def _urlopen_with_user_info(capture: Capture, server: str) -> dict[str, Any]:
    """urllib.request hands `robot:secret@host:port` to http.client as the host, which sends
    it in Host; the call then fails (no such host)."""
    capture.start(capture_headers="1")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://robot:{SECRET}@{server.split('://', 1)[1]}/ok",
                               timeout=5)
    (call,) = capture.calls()
    return call


def test_a_url_s_user_info_passed_to_http_client_stays_out_of_its_host_header(
        capture: Capture, server: str) -> None:
    call = _urlopen_with_user_info(capture, server)
    assert call["requestHeaders"]["Host"] == server.split("://", 1)[1]


def test_a_url_s_user_info_passed_to_http_client_stays_out_of_the_record(
        capture: Capture, server: str) -> None:
    assert SECRET not in json.dumps(_urlopen_with_user_info(capture, server))
