"""Property: a generated secret placed wherever a user could put one — a header whose name
looks sensitive, a query parameter, URL user-info, a JSON, XML, form, multipart or plain-text
body at any depth, an exception's text, cut anywhere by a size limit — never survives
httprecap.redact. Every secret starts with MARKER, so a leak is a plain substring."""

from __future__ import annotations

import contextlib
import io
import json
import string
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from httprecap.external import log
from httprecap.external.ship.registry import build_sinks
from httprecap.internal import bootstrap
from httprecap.redact import ALWAYS_MASKED_HEADERS, SENSITIVE_NAMES, SENSITIVE_PARTS, Redactor
from httprecap.settings import Settings

MARKER = "zqLEAK"
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

secrets = st.text(string.ascii_letters + string.digits, min_size=12, max_size=24).map(
    lambda tail: MARKER + tail)
filler_names = st.text(string.ascii_lowercase, min_size=1, max_size=8).filter(
    lambda name: not Redactor().is_sensitive(name))
# Names the docs call sensitive: a sensitive part anywhere in the name, or a short sensitive
# name as a word of it; dressed in prefixes, suffixes and case.
_parts = st.builds(
    lambda prefix, word, suffix, case: case(prefix + word + suffix),
    st.sampled_from(["", "x-", "X-My-", "client_", "aws_", "user.", "db"]),
    st.sampled_from([*SENSITIVE_PARTS, "password", "apikey", "api_key", "access_token",
                     "SecretAccessKey", "SessionToken"]),
    st.sampled_from(["", "_id", "-value", "s", "Id", "2"]),
    st.sampled_from([str, str.lower, str.upper, str.title]))
_words = st.builds(
    lambda prefix, word, suffix: prefix + word + suffix,
    st.sampled_from(["", "x-", "client_", "user.", "db-"]),
    st.sampled_from(sorted(SENSITIVE_NAMES)),
    st.sampled_from(["", "_id", "-value", "s", "2"]))
_camel = st.builds(lambda prefix, word: prefix + word.title(),
                   st.sampled_from(["db", "user", "x"]), st.sampled_from(sorted(SENSITIVE_NAMES)))
sensitive_names = st.one_of(_parts, _words, _camel)
header_names = st.one_of(sensitive_names, st.sampled_from(sorted(ALWAYS_MASKED_HEADERS)))
schemes = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Digest", "Token",
                           "Negotiate", "NTLM", "HOBA", "Mutual", "SCRAM-SHA-256",
                           "AWS4-HMAC-SHA256"])
# Free text around a secret: words, punctuation and quotes, but nothing that names a secret.
filler_text = st.text(string.ascii_lowercase + " .,:()[]{}'\"/-", max_size=40).filter(
    lambda text: not Redactor().is_sensitive(text))

redactor = Redactor()


def _leaks(output: str | None) -> bool:
    return output is not None and MARKER in output


# --------------------------------------------------------------------------------- headers


@PROPERTY
@given(header_names, secrets, st.sampled_from(["", "Bearer ", "Basic ", "Token "]),
       st.sampled_from(["", "\n", "\r\n"]))
def test_a_header_with_a_sensitive_name_never_keeps_its_value(
        name: str, secret: str, scheme: str, ending: str) -> None:
    shown = redactor.headers([("Accept", "*/*"), (name, scheme + secret + ending)])
    assert not _leaks(json.dumps(shown))


@PROPERTY
@given(filler_names, secrets, schemes)
@example("host", MARKER + "000000000000", "Bearer")  # Host's value is free text too
def test_a_credential_after_an_auth_scheme_is_masked_whatever_the_header(
        name: str, secret: str, scheme: str) -> None:
    assert not _leaks(json.dumps(redactor.headers([(name, f"{scheme} {secret}")])))


# ------------------------------------------------------------------------------------ URLs


@st.composite
def urls_with_secrets(draw: st.DrawFn) -> tuple[str, str]:
    secret = draw(secrets)
    params = draw(st.lists(st.tuples(filler_names, filler_names), max_size=3))
    params.insert(draw(st.integers(0, len(params))), (draw(sensitive_names), secret))
    userinfo = draw(st.sampled_from(["", f"robot:{secret}@", f"{secret}@", f"{secret}:x@"]))
    fragment = draw(st.sampled_from(["", f"#access_token={secret}", f"#{secret}"]))
    query = urlencode(params, quote_via=quote)
    return f"https://{userinfo}api.example.com/v1/items?{query}{fragment}", secret


@PROPERTY
@given(urls_with_secrets())
def test_a_url_keeps_no_secret_in_userinfo_query_or_fragment(case: tuple[str, str]) -> None:
    url, _ = case
    assert not _leaks(redactor.url(url))


# ------------------------------------------------------------------------- exception texts


def _placed(name: str, secret: str, scheme: str) -> st.SearchStrategy[str]:
    """A secret as the messages of clients and libraries print it."""
    return st.sampled_from([
        f"Invalid header value b'{secret}\\n'",
        f"Invalid header value b'{scheme} {secret}\\n'",
        f"Illegal header value b'{secret}\\r\\n'",
        f"in header value: '{scheme} {secret}\\n'",
        f"{name}: {secret}",
        f"{name}: {scheme} {secret}",
        f"{name}={secret}",
        f"{name}='{secret}'",
        f"'{name}': '{secret}'",
        f'"{name}": "{secret}"',
        f'{{"{name}": {{"v": ["{secret}"]}}}}',
        f"('{name}', b'{secret}')",
        f"{scheme} {secret}",
        f"https://robot:{secret}@api.example.com/x",
        f"https://api.example.com/x?{name}={secret}&page=2",
        f"/x?{name}={secret}",
        f"<{name}>{secret}</{name}>",
        f'<e {name}="{secret}"/>',
        f"parameter {name}, value: {secret}, type: <class 'int'>",
    ])


@st.composite
def messages_with_secrets(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        name, secret, scheme = draw(sensitive_names), draw(secrets), draw(schemes)
        parts += [draw(filler_text), draw(_placed(name, secret, scheme))]
    return " ".join([*parts, draw(filler_text)])


@PROPERTY
@given(messages_with_secrets())
def test_an_error_message_keeps_no_secret(message: str) -> None:
    assert not _leaks(redactor.text(message, limit=100_000))


@PROPERTY
@given(messages_with_secrets(), st.integers(0, 2000))
def test_an_error_message_cut_anywhere_keeps_no_secret(message: str, cut: int) -> None:
    # The hot path cuts a message (call.describe_error) before the sender redacts it.
    assert not _leaks(redactor.text(message[:cut], limit=100_000))


# ---------------------------------------------------------------------------------- bodies

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         filler_text)


def _json_with_secret(secret: str) -> st.SearchStrategy[Any]:
    """A JSON document with `secret` under a sensitive name, at any depth, possibly inside an
    object or array that is itself the sensitive name's value."""
    leaf = st.sampled_from([secret, [secret], {"value": secret}, [{"v": [secret]}]])
    secret_field = st.builds(lambda name, value: {name: value}, sensitive_names, leaf)

    def wrap(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.builds(lambda name, value, extra: {**extra, name: value},
                      filler_names, inner, st.dictionaries(filler_names, json_scalars,
                                                           max_size=2)),
            st.builds(lambda before, value: [*before, value],
                      st.lists(json_scalars, max_size=2), inner))

    return st.recursive(secret_field, wrap, max_leaves=4)


@st.composite
def json_bodies(draw: st.DrawFn) -> str:
    document = draw(_json_with_secret(draw(secrets)))
    indent = draw(st.sampled_from([None, 1, 2]))
    separators = draw(st.sampled_from([None, (",", ":")]))
    return json.dumps(document, indent=indent, separators=separators)


@st.composite
def xml_bodies(draw: st.DrawFn) -> str:
    secret, name = draw(secrets), draw(sensitive_names).replace(".", "_")
    body = draw(st.sampled_from([f"<{name}>{secret}</{name}>",
                                 f'<item {name}="{secret}"/>',
                                 f"<{name}><value>{secret}</value><n>1</n></{name}>",
                                 f"<{name}><![CDATA[{secret}]]></{name}>"]))
    for wrapper in draw(st.lists(filler_names, max_size=3)):
        body = f"<{wrapper}><pad>{draw(filler_names)}</pad>{body}</{wrapper}>"
    return '<?xml version="1.0"?>' + body


@st.composite
def form_bodies(draw: st.DrawFn) -> str:
    params = draw(st.lists(st.tuples(filler_names, filler_text), max_size=3))
    params.insert(draw(st.integers(0, len(params))), (draw(sensitive_names), draw(secrets)))
    return urlencode(params)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> str:
    boundary = "----" + draw(st.text(string.ascii_letters + string.digits, min_size=8,
                                     max_size=16))
    parts = [(draw(filler_names), draw(filler_text)) for _ in range(draw(st.integers(0, 2)))]
    parts.insert(draw(st.integers(0, len(parts))), (draw(sensitive_names), draw(secrets)))
    quoted = draw(st.booleans())
    lines = []
    for name, value in parts:
        shown = f'"{name}"' if quoted else name
        lines += [f"--{boundary}", f"Content-Disposition: form-data; name={shown}", "", value]
    return "\r\n".join([*lines, f"--{boundary}--", ""])


@st.composite
def plain_bodies(draw: st.DrawFn) -> str:
    name, secret = draw(sensitive_names), draw(secrets)
    line = draw(st.sampled_from([f"{name}={secret}", f"{name} = '{secret}'",
                                 f"{name}: {secret}", f"export {name}=\"{secret}\""]))
    return "\n".join([draw(filler_text), line, draw(filler_text)])


@st.composite
def embedded_bodies(draw: st.DrawFn) -> str:
    """A secret inside another format: JSON or a GraphQL query in a JSON string, JSON in a
    form field (URL-encoded), a query string in a JSON string."""
    document = draw(_json_with_secret(draw(secrets)))
    name, secret = draw(sensitive_names), draw(secrets)
    return draw(st.sampled_from([
        json.dumps({"body": json.dumps(document)}),
        json.dumps({"query": f'mutation {{ login(user: "bob", {name}: "{secret}") {{ id }} }}'}),
        urlencode({"payload": json.dumps(document), "note": "50% off"}),
        json.dumps({"next": f"/items?page=2&{name}={secret}"}),
    ]))


bodies = st.one_of(json_bodies(), xml_bodies(), form_bodies(), multipart_bodies(),
                   plain_bodies(), embedded_bodies())


@PROPERTY
@given(bodies, st.sampled_from([str, str.encode]))
def test_a_body_keeps_no_secret(body: str, kind: Any) -> None:
    assert not _leaks(redactor.body(kind(body)))


@PROPERTY
@given(bodies, st.integers(16, 400))
def test_a_body_cut_by_the_size_cap_keeps_no_secret(body: str, cap: int) -> None:
    # The hot path keeps cap + 1024 bytes; redaction sees them before the cap is applied.
    capped = Redactor(body_max_bytes=cap)
    for window in (len(body), cap + 8, cap):
        assert not _leaks(capped.body(body.encode()[: min(window, cap + 1024)]))


# --------------------------------------------------------------- httprecap's own settings


@st.composite
def settings_with_secrets(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    """HTTPRECAP_SINKS and HTTPRECAP_HTTP_HEADERS holding a secret, well formed or not."""
    secret, name = draw(secrets), draw(sensitive_names)
    sink = draw(st.sampled_from([
        f"http://robot:{secret}@127.0.0.1:9/recaps", f"https://127.0.0.1:9/r?{name}={secret}",
        f"otlp+http://robot:{secret}@127.0.0.1:4318", f"bogus://robot:{secret}@example.com",
        f"http://robot:{secret}@", f"https://127.0.0.1:9/r?a=1&{name}={secret}#x"]))
    headers = draw(st.sampled_from([
        f"Authorization: Bearer {secret}", f"X-Team=core,{secret}", f"{secret}",
        f"Authorization=Bearer {secret}", f"X-Api-Key {secret}"]))
    return {"HTTPRECAP_SINKS": f"stdout,{sink}", "HTTPRECAP_HTTP_HEADERS": headers,
            "HTTPRECAP_PORT": draw(st.sampled_from(["9399", f"{name}={secret}"]))}, secret


@PROPERTY
@given(settings_with_secrets())
def test_what_either_process_logs_about_its_settings_keeps_no_secret(
        case: tuple[dict[str, str], str]) -> None:
    environ, _ = case
    settings = Settings.from_environ(environ)
    sinks, warnings = build_sinks(settings.sinks, settings.http_headers, {})
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        for line in [*settings.warnings, *warnings, *(f"sink {s.name} failed" for s in sinks)]:
            log.warning(line)  # the extension's log
        bootstrap._warn(settings)  # the function process's warnings
    assert not _leaks(said.getvalue())
    assert not any(_leaks(sink.name) for sink in sinks)  # also threads' names
