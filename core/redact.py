"""Redaction: keeps secrets out of call records (runs in the function process and the extension).

Secrets never leave the function process: the internal extension redacts every URL, error
message, header and body before a record is encoded, and the extension applies the same
rules again to anything it receives, so an older or misconfigured sender cannot leak.

What is masked (the value becomes ``REDACTED``):

- URL user-info (``https://user:pass@host`` -> ``https://host``) and the URL fragment;
- values of query parameters, form fields and JSON fields whose *name* looks sensitive
  (contains signature, credential, token, key, secret, password, session, code, auth ...,
  is ``sig``/``pwd``/``pass``, or starts with ``X-Amz-``, so presigned S3 URLs are safe),
  or matches one of the ``HTTPRECAP_REDACT`` regular expressions;
- header values for Authorization, Cookie, Set-Cookie, X-Amz-Security-Token, X-Api-Key and
  every header whose name looks sensitive, even with ``HTTPRECAP_CAPTURE_HEADERS`` on;
- bodies are cut to ``HTTPRECAP_BODY_MAX_BYTES`` with a truncation marker.

Example::

    >>> Redactor().url("https://bob:pw@example.com/a?limit=5&token=abc")
    'https://example.com/a?limit=5&token=REDACTED'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

MASK = "REDACTED"
TRUNCATED = "…[truncated {} bytes]"

# Substrings that make a field name sensitive, and short names that are sensitive only whole
# (a substring rule for "sig" would mask "design"; Azure SAS tokens use `sig`).
SENSITIVE_PARTS = ("signature", "credential", "token", "key", "secret", "passw", "session",
                   "code", "auth", "cookie", "jwt", "private", "otp")
SENSITIVE_NAMES = frozenset({"sig", "pwd", "pass", "sas", "hmac"})
AWS_SIGNING_PREFIX = "x-amz-"

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

# Compiled on first use by re's cache (on the sender thread), not at import: this module
# loads at interpreter start.
_URL_IN_TEXT = r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()]+"
_USERINFO_IN_TEXT = r"(://)[^/\s@]*@"
_PAIR = r"(?P<lead>^|[?&;\s])(?P<name>[^=&;?\s#]{1,200})=(?P<value>[^&;\s#'\")]*)"
_JSON_FIELD = (r"(?P<lead>\"(?P<name>[^\"\\]{1,200})\"\s*:\s*)"
               r"(?P<value>\"(?:[^\"\\]|\\.)*(?:\"|$)|[^,}\]\s]+)")


class Redactor:
    """Applies the redaction rules; one instance per process, built from the settings."""

    def __init__(self, patterns: Iterable[str] = (), body_max_bytes: int = 2048) -> None:
        compiled = [(pattern, _compile(pattern)) for pattern in patterns]
        self.patterns = tuple(regex for _, regex in compiled if regex is not None)
        self.invalid_patterns = tuple(pattern for pattern, regex in compiled if regex is None)
        self.body_max_bytes = body_max_bytes
        self._verdicts: dict[str, bool] = {}  # field names repeat: decide each once

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
        if lowered in SENSITIVE_NAMES or lowered.startswith(AWS_SIGNING_PREFIX):
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
        """Free text (an exception message): URLs and key=value pairs inside it redacted."""
        message = re.sub(_URL_IN_TEXT, lambda m: self.url(m.group(0)), message)
        message = re.sub(_USERINFO_IN_TEXT, r"\1", message)
        message = re.sub(_PAIR, self._mask_pair, message)
        return message if len(message) <= limit else message[: limit - 1] + "…"

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Header values with the secret ones masked (repeated names joined by ', ')."""
        result: dict[str, str] = {}
        for name, value in headers:
            if len(result) >= 90 and name not in result:
                break  # the wire contract bounds an object's keys
            shown = MASK if self.is_secret_header(name) else str(value)[:1024]
            result[name] = f"{result[name]}, {shown}" if name in result else shown
        return result

    def is_secret_header(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in ALWAYS_MASKED_HEADERS:
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
        window = raw[: limit + 1024].decode("utf-8", "replace")
        text = re.sub(_JSON_FIELD, self._mask_json_field, window)
        text = re.sub(_PAIR, self._mask_pair, text)
        if len(raw) <= limit and len(text) <= limit:
            return text
        return text[:limit] + TRUNCATED.format(max(len(raw) - limit, 0))

    def _mask_pair(self, match: re.Match[str]) -> str:
        name = match.group("name")
        if not self.is_sensitive(unquote_plus(name)):
            return match.group(0)
        return f"{match.group('lead')}{name}={MASK}"

    def _mask_json_field(self, match: re.Match[str]) -> str:
        if not self.is_sensitive(match.group("name")):
            return match.group(0)
        return f'{match.group("lead")}"{MASK}"'


def _compile(pattern: str) -> re.Pattern[str] | None:
    """A user's HTTPRECAP_REDACT pattern; an invalid one is ignored rather than fatal."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None
