"""Redaction: the free-text rules, for error messages, log lines and captured bodies (runs in
the function process's sender thread and in the extension).

Each rule finds, in the same text, the spans that hold a secret: the value after a sensitive
name (``name=value``, ``Name: value``, ``"name": value``, ``('name', value)``, XML elements
and multipart parts), the credentials after an auth scheme, a value a client printed after
``header value``. The spans are merged and masked at once, so no rule can hide from another
the name or scheme it recognises a secret by. A value that runs to the end of the text (a
message or body cut short) is masked to the end. `httprecap.redact` documents what is masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from httprecap.redact import AUTH_SCHEMES, MASK, TOKEN_SCHEMES

# A quoted string as Python or JSON prints it (`'x'`, `b"x"`, `\"x\"` inside a JSON string),
# possibly cut before its end.
_QUOTED = (r"b?'(?:[^'\\]|\\.)*'?|b?\"(?:[^\"\\]|\\.)*\"?"
           r"|\\\"(?:[^\\]|\\[^\"])*(?:\\\")?")

_QUOTES = ("b'", 'b"', "'", '"', '\\"')  # the openings of _QUOTED's strings
Span = tuple[int, int, str]  # start, end, what replaces text[start:end]
IsSensitive = Callable[[str], bool]


class _Rules:
    """The rules' patterns, compiled on first use (on the sender thread), not at import: this
    module loads at interpreter start."""

    def __init__(self) -> None:
        # "name": / 'name': / \"name\": / ('name', — the value is found by `_value_end`.
        self.quoted_name = re.compile(
            r"(?P<q>\\?[\"'])(?P<name>[^\"'\\\r\n]{1,200})(?P=q)\s*(?P<sep>[:,=])\s*")
        self.tuple_open = re.compile(r"\(\s*b?\Z")
        # An element's tag; not a Python object's repr (`<x.Session object at 0x7f>`).
        self.xml_tag = re.compile(r"<(?P<close>/?)(?P<name>[A-Za-z_][\w:.-]*)(?! object )"
                                  r"(?P<rest>(?:[\s/][^<>]*)?)>")
        self.part = re.compile(
            r"content-disposition:[^\r\n]*?\bname=(?P<q>\"?)(?P<name>[^\"\r\n;]*)(?P=q)"
            r"[^\r\n]*(?:\r?\n[^\r\n]+)*\r?\n\r?\n(?P<value>.*?)(?=\r?\n--|\Z)", re.I | re.S)
        # A scheme as headers write it (`Bearer`, `BASIC`; `bearer` too), not as prose does
        # ("the security token included", "failed to negotiate", "sha256 digest").
        schemes = "|".join(sorted({_spelled(s, spelling) for s in AUTH_SCHEMES
                                   for spelling in (str.title, str.upper)} | {"bearer\\b"}))
        self.scheme = re.compile(
            rf"(?<![\w-])(?P<scheme>{schemes}|AWS(?= [A-Z0-9]{{12,128}}:))"
            r"[ \t]+(?=[^\s=:{}()\[\]<>,;])")
        self.header_value = re.compile(
            r"\bheader (?:value|part)\b[\s:=(]*(?P<value>" + _QUOTED + r"|[^\r\n]*)", re.I)
        # A named value: the head that names it, and the value after it.
        # `Name: value`: a quoted value whole, else up to a comma, a quote or a backslash
        # (in a JSON string or a repr, the end of the line the value sits on).
        self.line = (re.compile(r"(?<![^\s,;({\[])(?P<name>[A-Za-z0-9_.\-]{1,100})"
                                r"[ \t]*:[ \t]*"),
                     re.compile(_QUOTED + r"|[^\r\n\"'\\,]*"))
        self.pair = (re.compile(r"(?<![^?&;\s,({'\"])(?P<name>[^=&;?\s#,(){}'\"<>]{1,200})"
                                r"[ \t]*=[ \t]*"),
                     re.compile(_QUOTED + r"|[^&;\s#'\")]*"))
        # botocore's ParamValidationError: `Invalid type for parameter Name, value: ...`.
        self.parameter = (re.compile(r"parameter (?P<name>[^\s,]{1,200}), value: "),
                          re.compile(r"[^\r\n]*?(?=, (?:type|valid)\b|$)", re.M))
        self.line_end = re.compile(r"[\r\n]|\Z")
        self.token = re.compile(r"[^\s\"'\\,;]*")
        # A string's characters up to its closing quote (escapes skipped), by quote.
        self.strings = {quote: re.compile(rf"(?:[^{quote}\\]|\\.)*(?:\\\Z)?")
                        for quote in ("'", '"')}
        self.bracket = re.compile(r"[\[\]{}\"'\\]")


def _spelled(scheme: str, spelling: Callable[[str], str]) -> str:
    """`scheme` as a pattern, spelled one way (`aws4-` is a prefix: AWS4-HMAC-SHA256)."""
    if scheme.endswith("-"):
        return re.escape(spelling(scheme)) + "[A-Za-z0-9-]*"
    return re.escape(spelling(scheme)) + r"\b"


@lru_cache(maxsize=1)
def _compiled() -> _Rules:
    return _Rules()


def mask(text: str, is_sensitive: IsSensitive, url_safe: IsSensitive) -> str:
    """`text` with every span a rule finds masked. `is_sensitive` judges a field's name;
    `url_safe` a URL-encoded one (a query parameter or form field). A rule runs only when the
    text holds the characters or words it starts from."""
    rules = _compiled()
    lowered = text.lower()
    spans: list[Span] = []
    if '"' in text or "'" in text:
        _quoted_fields(text, is_sensitive, rules, spans)
    if "<" in text:
        _xml_elements(text, is_sensitive, rules, spans)
    if "form-data" in lowered:
        _multipart_parts(text, is_sensitive, rules, spans)
    if "aws" in lowered or any(scheme in lowered for scheme in AUTH_SCHEMES):
        _schemes(text, rules, spans)
    if "header" in lowered:
        _header_values(text, rules, spans)
    if "parameter" in text:
        _named(text, *rules.parameter, is_sensitive, spans)
    if "=" in text:
        _named(text, *rules.pair, url_safe, spans)
    if ":" in text:
        _named(text, *rules.line, is_sensitive, spans)
    return _apply(text, spans)


def _apply(text: str, spans: list[Span]) -> str:
    """Replace the spans, an overlapping one joined to the one it overlaps."""
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    position = 0
    start, end, replacement = spans[0]
    for next_start, next_end, next_replacement in spans[1:]:
        if next_start < end:
            end = max(end, next_end)
            continue
        pieces += [text[position:start], replacement]
        position = end
        start, end, replacement = next_start, next_end, next_replacement
    pieces += [text[position:start], replacement, text[end:]]
    return "".join(pieces)


def _quoted_fields(text: str, is_sensitive: IsSensitive, rules: _Rules,
                   spans: list[Span]) -> None:
    """`"name": value`, `'name': value`, `\\"name\\": value`, `('name', value)`: the whole
    value (a string, number, object or array) of a sensitive name."""
    for match in rules.quoted_name.finditer(text):
        if match.group("sep") == "," and not _opens_tuple(text, match.start(), rules):
            continue  # a list of names, not a (name, value) pair
        if is_sensitive(match.group("name")):
            start = match.end()
            spans.append((start, _value_end(text, start, rules), _masked_like(text, start)))


def _opens_tuple(text: str, start: int, rules: _Rules) -> bool:
    """Whether the string at `start` is the first item of a tuple: `(` or `(b` before it."""
    return rules.tuple_open.search(text, max(start - 8, 0), start) is not None


def _xml_elements(text: str, is_sensitive: IsSensitive, rules: _Rules,
                  spans: list[Span]) -> None:
    """The text inside elements with a sensitive name (their children's included); tags and
    layout are kept. Attributes are `name="value"` pairs (`_named`)."""
    open_tags: list[tuple[str, bool]] = []
    position = 0
    for match in rules.xml_tag.finditer(text):
        if open_tags and open_tags[-1][1] and text[position:match.start()].strip():
            spans.append((position, match.start(), MASK))
        position = match.end()
        name = match.group("name")
        if match.group("close"):
            _close(open_tags, name)
        elif not match.group("rest").endswith("/"):
            masking = bool(open_tags) and open_tags[-1][1]
            open_tags.append((name, masking or is_sensitive(name.rpartition(":")[2])))
    if open_tags and open_tags[-1][1] and text[position:].strip():
        spans.append((position, len(text), MASK))


def _close(open_tags: list[tuple[str, bool]], name: str) -> None:
    """Pop the elements a closing tag ends (a stray closing tag changes nothing)."""
    for depth in range(len(open_tags) - 1, -1, -1):
        if open_tags[depth][0] == name:
            del open_tags[depth:]
            return


def _multipart_parts(text: str, is_sensitive: IsSensitive, rules: _Rules,
                     spans: list[Span]) -> None:
    for match in rules.part.finditer(text):
        if match.group("value") and is_sensitive(match.group("name")):
            spans.append((match.start("value"), match.end("value"), MASK))


def _schemes(text: str, rules: _Rules, spans: list[Span]) -> None:
    """The credentials after an auth scheme: to the end of the quoted string the scheme opens,
    else one token (Bearer, Basic ...) or the rest of the line (Digest, AWS4-HMAC-SHA256 ...,
    whose parameters hold the secrets)."""
    for match in rules.scheme.finditer(text):
        start, before = match.end(), text[match.start() - 1:match.start()]
        quote = before if before in ("'", '"') and match.start() else ""
        if quote:
            end = _closing_quote(text, start, quote)
        elif match.group("scheme").lower() in TOKEN_SCHEMES:
            end = rules.token.match(text, start).end()  # type: ignore[union-attr]
        else:
            end = rules.line_end.search(text, start).start()  # type: ignore[union-attr]
        if end > start:
            spans.append((start, end, MASK))


def _header_values(text: str, rules: _Rules, spans: list[Span]) -> None:
    """A value printed after `header value` (`Invalid header value b'...'`): which header it
    belongs to is not said, so it is masked whatever it is."""
    for match in rules.header_value.finditer(text):
        _add_inner(match.start("value"), match.group("value"), spans)


def _named(text: str, head: re.Pattern[str], value: re.Pattern[str],
           is_sensitive: IsSensitive, spans: list[Span]) -> None:
    """The value after each `head` whose name is sensitive."""
    for match in head.finditer(text):
        if is_sensitive(match.group("name")):
            found = value.match(text, match.end())
            if found is not None:
                _add_inner(found.start(), found.group(0), spans)


def _add_inner(start: int, value: str, spans: list[Span]) -> None:
    """`value` at `start` without the quotes it was written in (`b'...'`, `"..."`, `\"...\"`)."""
    end = start + len(value)
    quote = next((q for q in _QUOTES if value.startswith(q)), "")
    if quote:
        closing = quote.lstrip("b")
        closed = len(value) >= len(quote) + len(closing) and value.endswith(closing)
        start, end = start + len(quote), end - len(closing) if closed else end
    if value[len(quote):].strip() and end > start:
        spans.append((start, end, MASK))


def _masked_like(text: str, start: int) -> str:
    """What replaces the value at `start`: MASK quoted as the value was (JSON's double quotes
    for a number, an object or an array, as a JSON field's value stays a string)."""
    if text.startswith('\\"', start):
        return f'\\"{MASK}\\"'
    if text.startswith(("b'", 'b"'), start):
        return f"b{text[start + 1]}{MASK}{text[start + 1]}"
    if text.startswith("'", start):
        return f"'{MASK}'"
    return f'"{MASK}"'


def _value_end(text: str, start: int, rules: _Rules) -> int:
    """Where the value at `start` ends: after its closing quote or bracket, or at the end of
    the text when the value was cut before it closed."""
    if text.startswith('\\"', start):
        found = text.find('\\"', start + 2)
        return len(text) if found < 0 else found + 2
    if text.startswith(("b'", 'b"'), start):
        start += 1
    first = text[start:start + 1]
    if first in ("'", '"'):
        return min(_closing_quote(text, start + 1, first) + 1, len(text))
    if first in ("{", "["):
        return _bracket_end(text, start, rules)
    end = start
    while end < len(text) and text[end] not in ",}] \t\r\n)":
        end += 1
    return end


def _closing_quote(text: str, start: int, quote: str) -> int:
    """The index of the unescaped `quote` that closes a string starting at `start`, or the
    text's length when the string was cut before its end."""
    string = _compiled().strings[quote].match(text, start)
    return string.end() if string is not None else start  # (always matches)


def _bracket_end(text: str, start: int, rules: _Rules) -> int:
    """The index after the bracket closing the object or array at `start` (strings honoured)."""
    depth = 0
    quote = ""
    skip_to = -1
    for match in rules.bracket.finditer(text, start):
        index, char = match.start(), match.group(0)
        if index < skip_to:
            continue
        if char == "\\":
            skip_to = index + 2
        elif quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)
