"""Redaction: keeps secrets out of call records and logs (runs in the function process and the
extension).

Secrets never leave the function process: the sender thread redacts every URL, error message,
header and body before a record is encoded, and both processes pass every log line that could
name a setting's value (a sink URL, HTTPRECAP_HTTP_HEADERS) through the same rules.

What is masked (the value becomes ``REDACTED``):

- URL user-info (``https://user:pass@host`` -> ``https://host``) and the URL fragment;
- values of query parameters and fields whose *name* looks sensitive (contains signature,
  credential, token, key, secret, passw, pwd, hmac, session, code, auth, cookie, jwt, private
  or otp; has ``sig``, ``pass`` or ``sas`` as a word: ``x-sig``, ``db_pass``, ``dbPass``,
  ``sig2``; or starts with ``X-Amz-``, so presigned S3 URLs are safe), or matches one of the
  ``HTTPRECAP_REDACT`` regular expressions;
- header values for Authorization, Cookie, Set-Cookie, X-Amz-Security-Token, X-Api-Key and
  every header whose name looks sensitive, even with ``HTTPRECAP_CAPTURE_HEADERS`` on; the
  other headers' values get the free-text rules below (a ``Location`` with ``?code=...``),
  and ``Host`` loses any user-info;
- in error messages, log lines and captured bodies (``text`` and ``body``), wherever it
  appears: URLs as above; a sensitive name's value in ``name=value`` (quoted or not),
  ``Name: value`` (quoted, or up to a comma, a quote or the end of the line),
  ``"name": value`` and ``'name': value`` (an object or array value whole, also in JSON inside
  a JSON string), ``('name', b'value')``; the credentials after an auth scheme, spelled as
  headers spell it (``Bearer``/``BEARER``/``bearer``, not the prose "security token"; one token
  after ``Bearer``, ``Basic``, ``Token``, ``Negotiate``, ``NTLM``; the rest of the line after
  ``Digest``, ``AWS4-HMAC-SHA256 Credential=...`` and other schemes with parameters; the rest
  of the quoted string when the scheme opens one); a value printed after ``header value``
  (``Invalid header value b'...'``) whatever the header; botocore's ``parameter Name,
  value: ...`` for a sensitive parameter; the text of XML elements with a sensitive name and
  of everything inside them (``<Credentials>``, ``<SecretAccessKey>``), XML attributes
  through ``name="value"``; the value of a multipart/form-data part with a sensitive ``name``;
  and all of these in URL-encoded text too (``payload=%7B%22token%22...``), which is then
  kept decoded;
- error messages are shortened to 300 characters and bodies cut to
  ``HTTPRECAP_BODY_MAX_BYTES`` (with a truncation marker) *after* redaction, and a value cut
  short before it (a JSON string, object or array, an XML element, a multipart part, a quoted
  string never closed) is masked to the end, so a cut never uncovers a secret.

Values under names that do not look sensitive are kept, by design: the rules recognise a
secret by its name or its scheme, never by its shape.

Example::

    >>> Redactor().url("https://bob:pw@example.com/a?limit=5&token=abc")
    'https://example.com/a?limit=5&token=REDACTED'
    >>> Redactor().text("Invalid header value b'Bearer abc\\\\n'")
    "Invalid header value b'REDACTED'"
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote_plus

MASK = "REDACTED"
TRUNCATED = "…[truncated {} bytes]"

# Substrings that make a field name sensitive, and short names that are sensitive only whole
# (a substring rule for "sig" would mask "design"; Azure SAS tokens use `sig`).
SENSITIVE_PARTS = ("signature", "credential", "token", "key", "secret", "passw", "pwd", "hmac",
                   "session", "code", "auth", "cookie", "jwt", "private", "otp")
SENSITIVE_NAMES = frozenset({"sig", "pass", "sas"})
AWS_SIGNING_PREFIX = "x-amz-"

# Auth schemes whose credentials follow them in a header value (RFC 9110 and common ones).
AUTH_SCHEMES = ("bearer", "basic", "digest", "token", "negotiate", "ntlm", "hoba", "mutual",
                "scram-sha-1", "scram-sha-256", "aws4-")
# Schemes whose credentials are one token; the others' parameters run to the end of the line.
TOKEN_SCHEMES = frozenset({"bearer", "basic", "token", "negotiate", "ntlm", "aws"})

# Header names that are masked whatever the rules above say.
ALWAYS_MASKED_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-amz-security-token",
    "x-api-key", "api-key", "x-auth-token", "x-csrf-token", "x-xsrf-token",
})

MAX_ERROR_CHARS = 300
CACHE_SIZE = 1024
MAX_URL_CHARS = 2048
# Every string must fit the wire contract's bound (httprecap.wire.MAX_STRING).
MAX_FIELD_CHARS = 8000
MAX_TEXT_CHARS = 16000  # free text longer than this is cut first: it bounds the rules' cost

_USERINFO_IN_TEXT = r"(://)[^/\s@]*@"


# Every free-text rule needs one of these words (lowercased): text without any is kept as it
# is. Substring searches cost a thirtieth of one case-insensitive alternation.
_TRIGGERS = (*SENSITIVE_PARTS, *SENSITIVE_NAMES, AWS_SIGNING_PREFIX, *AUTH_SCHEMES, "aws ",
             "header", "://", "%")


class _Patterns:
    """Compiled on first use (on the sender thread), not at import: this module loads at
    interpreter start."""

    def __init__(self) -> None:
        self.url = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()]+")
        self.userinfo = re.compile(_USERINFO_IN_TEXT)


@lru_cache(maxsize=1)
def _compiled() -> _Patterns:
    return _Patterns()


class Redactor:
    """Applies the redaction rules; one instance per process, built from the settings."""

    def __init__(self, patterns: Iterable[str] = (), body_max_bytes: int = 2048) -> None:
        compiled = [(pattern, _compile(pattern)) for pattern in patterns]
        self.patterns = tuple(regex for _, regex in compiled if regex is not None)
        self.invalid_patterns = tuple(pattern for pattern, regex in compiled if regex is None)
        self.body_max_bytes = body_max_bytes
        self._verdicts: dict[str, bool] = {}  # field names repeat: decide each once
        self._headers_shown: dict[tuple[str, str], str] = {}  # and most headers, whole

    def is_sensitive(self, name: str) -> bool:
        """Whether a query/form/JSON field called `name` holds a secret."""
        verdict = self._verdicts.get(name)
        if verdict is None:
            if len(self._verdicts) >= CACHE_SIZE:
                self._verdicts.clear()
            verdict = self._verdicts[name] = self._decide(name)
        return verdict

    def _decide(self, name: str) -> bool:
        lowered = name.lower()
        if lowered.startswith(AWS_SIGNING_PREFIX) or _has_sensitive_word(name):
            return True
        if any(part in lowered for part in SENSITIVE_PARTS):
            return True
        return any(pattern.search(name) for pattern in self.patterns)

    def url(self, url: str) -> str:
        """The URL without user-info, fragment, or the values of sensitive query parameters."""
        if "@" not in url and "?" not in url and "#" not in url:
            return url[:MAX_URL_CHARS]
        base, _, _fragment = url.partition("#")
        base, sep, query = base.partition("?")
        if "@" in base:
            base = re.sub(_USERINFO_IN_TEXT, r"\1", base, count=1)
        if sep:
            base += "?" + self.query(query)
        return base[:MAX_URL_CHARS]

    def query(self, query: str) -> str:
        """`a=1&token=x` -> `a=1&token=REDACTED` (order and encoding kept)."""
        parts = []
        for pair in query.split("&"):
            name, eq, _value = pair.partition("=")
            sensitive = eq and self.is_sensitive(unquote_plus(name))
            parts.append(f"{name}={MASK}" if sensitive else pair)
        return "&".join(parts)

    def text(self, message: str, limit: int = MAX_ERROR_CHARS) -> str:
        """Free text (an exception message, a log line) with every secret the rules recognise
        masked, then shortened to `limit`: redaction comes first, so the cut cannot uncover
        a secret, and a message already cut by its sender is masked to its end."""
        message = self.free_text(message[:MAX_TEXT_CHARS])
        return message if len(message) <= limit else message[: limit - 1] + "…"

    def free_text(self, text: str) -> str:
        """`text` with the free-text rules applied (see the module docstring), full length."""
        if not self.patterns and not _may_hold_secret(text):
            return text  # the common case: nothing that could name a secret
        masked = self._masked(text)
        if "%" in text:
            # URL-encoded text (a form field holding JSON, a query in a message) may hide a
            # name that only its decoded form shows: then the decoded form is kept, masked.
            decoded = unquote_plus(text)
            if decoded != text:
                masked_decoded = self._masked(decoded)
                if masked_decoded.count(MASK) > masked.count(MASK):
                    return masked_decoded
        return masked

    def _masked(self, text: str) -> str:
        patterns = _compiled()
        if "://" in text:
            text = patterns.url.sub(self._mask_url, text)
            text = patterns.userinfo.sub(r"\1", text)
        from httprecap import redact_text  # the rules load with the first text that needs them

        return redact_text.mask(text, self.is_sensitive, self._is_sensitive_encoded)

    def _is_sensitive_encoded(self, name: str) -> bool:
        return self.is_sensitive(unquote_plus(name))

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Header values with the secret ones masked (repeated names joined by ', ')."""
        result: dict[str, str] = {}
        for name, value in headers:
            if len(result) >= 90 and name not in result:
                break  # the wire contract bounds an object's keys
            shown = self._header(name, value)
            result[name] = f"{result[name]}, {shown}" if name in result else shown
        return result

    def _header(self, name: str, value: str) -> str:
        key = (name, value)
        shown = self._headers_shown.get(key)
        if shown is None:
            if len(self._headers_shown) >= CACHE_SIZE:
                self._headers_shown.clear()
            shown = self._headers_shown[key] = self._show_header(name, str(value)[:1024])
        return shown

    def _show_header(self, name: str, value: str) -> str:
        if self.is_secret_header(name):
            return MASK
        if name.lower() == "host":
            # http.client sends what it was given: urllib.request passes on a URL's user-info.
            value = value.rpartition("@")[2]
        return self.free_text(value)

    def is_secret_header(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in ALWAYS_MASKED_HEADERS or _has_sensitive_word(name):
            return True
        # X-Amz-Date or X-Amz-Content-Sha256 are not secrets: the prefix rule is for queries.
        if any(part in lowered for part in SENSITIVE_PARTS):
            return True
        return any(pattern.search(name) for pattern in self.patterns)

    def body(self, body: bytes | str | None) -> str | None:
        """The body as text, sensitive fields masked, cut to the configured size."""
        if body is None:
            return None
        raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
        limit = min(self.body_max_bytes, MAX_FIELD_CHARS)
        # Redact a window a little larger than the cap, so a secret cut by the cap is still
        # recognised by its field name before the cut.
        text = self.free_text(raw[: limit + 1024].decode("utf-8", "replace"))
        if len(raw) <= limit and len(text) <= limit:
            return text
        return text[:limit] + TRUNCATED.format(max(len(raw) - limit, 0))

    def _mask_url(self, match: re.Match[str]) -> str:
        url = match.group(0)
        if match.end() == len(match.string):
            # A URL the text ends in may have been cut inside its user-info, before the `@`
            # that marks it: `user:secret` is no host and port, so it is masked.
            scheme, _, authority = url.partition("://")
            _host, colon, port = authority.partition(":")
            cut = colon and not port.isdigit() and not any(c in authority for c in "/?#[")
            if cut:
                return f"{scheme}://{MASK}"
        return self.url(url)


def _may_hold_secret(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _TRIGGERS)


def _has_sensitive_word(name: str) -> bool:
    """Whether a word of `name` (split at punctuation and camelCase) is a short sensitive name
    or its plural: `sig`, `db_pass`, `dbPass`, `x-sigs`, but not `design` or `passage`."""
    words = re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])", name)
    return any(_sensitive_word(word.lower()) for word in words)


def _sensitive_word(word: str) -> bool:
    return word in SENSITIVE_NAMES or (word[-1:] == "s" and word[:-1] in SENSITIVE_NAMES)


def _compile(pattern: str) -> re.Pattern[str] | None:
    """A user's HTTPRECAP_REDACT pattern; an invalid one is ignored rather than fatal."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None
