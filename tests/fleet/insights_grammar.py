"""A small checker of the Logs Insights query language, limited to what AWS documents and the
fleet queries use (no engine: it checks form and names, never results).

Sources (docs/FLEET.md): the query syntax page lists the commands
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html); `unnest X into
Y` over a LIST from `jsonParse` (CWL_QuerySyntax-Unnest.html); stats' aggregation functions
`count`, `count_distinct`, `sum`, `avg`, `min`, `max`, `pct(field, percentile)`
(CWL_QuerySyntax-Stats.html); `ispresent` and `jsonParse` among the general and JSON
functions, `like /regex/` in filter (CWL_QuerySyntax-operations-functions.html,
CWL_QuerySyntax-Filter.html); SOURCE only first, API and CLI only (CWL_QuerySyntax-Source.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COMMANDS = frozenset(("fields", "display", "filter", "stats", "sort", "limit", "unnest",
                      "parse", "dedup"))
AGGREGATIONS = {"count": (0, 1), "count_distinct": (1, 1), "sum": (1, 1), "avg": (1, 1),
                "min": (1, 1), "max": (1, 1), "pct": (2, 2)}
FUNCTIONS = {"jsonParse": (1, 1), "ispresent": (1, 1)}
KEYWORDS = frozenset(("as", "by", "into", "and", "or", "not", "like", "asc", "desc", "in"))
SYSTEM_FIELDS = frozenset(("@message", "@timestamp", "@log", "@logStream", "@ingestionTime",
                           "@ptr"))

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<regex>/(?:[^/\\\n]|\\.)+/)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<name>@?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op><=|>=|!=|=~|[=<>*+\-/%(),|:\[\]])
""", re.VERBOSE)


class QuerySyntaxError(ValueError):
    pass


@dataclass
class Checked:
    """What a query names: its fields (dotted paths), the aliases it defines, the roots that
    `jsonParse` and `unnest` bind."""

    fields: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> what it stands for
    discovered: list[str] = field(default_factory=list)  # fields read without jsonParse


def tokens(text: str) -> list[tuple[str, str]]:
    found, position, previous = [], 0, ""
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise QuerySyntaxError(f"cannot read {text[position:position + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "regex" and previous not in ("like", "=~"):
            # a slash is division unless a regex is expected
            kind, value = "op", "/"
        position += len(value)
        if kind != "space":
            found.append((kind, value))
            previous = value
    return found


def split_commands(items: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    commands: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, value in items:
        depth += value == "(" and kind == "op"
        depth -= value == ")" and kind == "op"
        if depth < 0:
            raise QuerySyntaxError("unbalanced parentheses")
        if kind == "op" and value == "|" and depth == 0:
            commands.append([])
        else:
            commands[-1].append((kind, value))
    if depth:
        raise QuerySyntaxError("unbalanced parentheses")
    return commands


def check(query: str) -> Checked:
    """The query's names, or QuerySyntaxError for anything outside the documented grammar."""
    checked = Checked()
    for index, command in enumerate(split_commands(tokens(query))):
        if not command:
            raise QuerySyntaxError("empty command between pipes")
        keyword = command[0][1]
        if keyword == "SOURCE":
            if index:
                raise QuerySyntaxError("SOURCE must be the first command")
            _check_source(command[1:])
            continue
        if keyword not in COMMANDS:
            raise QuerySyntaxError(f"unknown command {keyword!r}")
        _CHECKERS.get(keyword, _check_expressions)(keyword, command[1:], checked)
    return checked


def _check_source(rest: list[tuple[str, str]]) -> None:
    """`SOURCE logGroups(namePrefix: ["A", "B"])`: one to five prefixes, as strings."""
    values = [value for _, value in rest]
    prefixes = rest[5:-2:2]
    separators = values[6:-2:2]
    if (values[:5] != ["logGroups", "(", "namePrefix", ":", "["] or values[-2:] != ["]", ")"]
            or not 1 <= len(prefixes) <= 5 or any(kind != "string" for kind, _ in prefixes)
            or any(value != "," for value in separators)):
        raise QuerySyntaxError("SOURCE takes logGroups(namePrefix: [\"PREFIX\", ...])")


def _check_expressions(keyword: str, rest: list[tuple[str, str]], checked: Checked) -> None:
    if not rest:
        raise QuerySyntaxError(f"{keyword} needs an argument")
    _names(rest, checked, aggregations=keyword == "stats")


def _check_limit(keyword: str, rest: list[tuple[str, str]], checked: Checked) -> None:
    if len(rest) != 1 or rest[0][0] != "number" or "." in rest[0][1]:
        raise QuerySyntaxError("limit takes one whole number")


def _check_unnest(keyword: str, rest: list[tuple[str, str]], checked: Checked) -> None:
    if len(rest) != 3 or rest[0][0] != "name" or rest[1][1] != "into" or rest[2][0] != "name":
        raise QuerySyntaxError("unnest takes `FIELD into NAME`")
    _names(rest[:1], checked)
    checked.aliases[rest[2][1]] = rest[0][1] + "[]"


def _check_sort(keyword: str, rest: list[tuple[str, str]], checked: Checked) -> None:
    for term in _split_commas(rest):
        if not term or term[0][0] != "name" or len(term) > 2 or (
                len(term) == 2 and term[1][1] not in ("asc", "desc")):
            raise QuerySyntaxError("sort takes `FIELD [asc|desc], ...`")
        _names(term[:1], checked)


def _check_stats(keyword: str, rest: list[tuple[str, str]], checked: Checked) -> None:
    values = [item[1] for item in rest]
    cut = values.index("by") if "by" in values else len(rest)
    for term in _split_commas(rest[:cut]):
        if not term or term[0][1] not in AGGREGATIONS:
            raise QuerySyntaxError(f"stats needs aggregation functions, not {term[:1]!r}")
    _names(rest[:cut], checked, aggregations=True)
    for term in _split_commas(rest[cut + 1:]):
        if len(term) != 1 or term[0][0] != "name":
            raise QuerySyntaxError("stats ... by takes field names")
        _names(term, checked)


def _split_commas(items: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    terms: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, value in items:
        depth += value == "("
        depth -= value == ")"
        if value == "," and kind == "op" and depth == 0:
            terms.append([])
        else:
            terms[-1].append((kind, value))
    return terms


def _names(items: list[tuple[str, str]], checked: Checked, aggregations: bool = False) -> None:
    """Check calls against the known functions; record aliases (`as NAME`) and fields."""
    for position, (kind, value) in enumerate(items):
        if kind != "name":
            continue
        following = items[position + 1][1] if position + 1 < len(items) else ""
        before = items[position - 1][1] if position else ""
        if following == "(" and value not in KEYWORDS:
            _check_call(value, items, position, aggregations)
        elif before == "as":
            checked.aliases[value] = _expression_before(items, position - 1)
        elif value not in KEYWORDS:
            checked.fields.append(value)


def _check_call(name: str, items: list[tuple[str, str]], position: int,
                aggregations: bool) -> None:
    known = {**FUNCTIONS, **(AGGREGATIONS if aggregations else {})}
    if name not in known:
        raise QuerySyntaxError(f"{name}() is not a documented function here")
    low, high = known[name]
    count = len([term for term in _split_commas(_arguments(items, position + 1)) if term])
    if not low <= count <= high:
        raise QuerySyntaxError(f"{name}() takes {low}-{high} arguments, not {count}")


def _arguments(items: list[tuple[str, str]], opening: int) -> list[tuple[str, str]]:
    depth, inside = 0, []
    for kind, value in items[opening:]:
        depth += value == "("
        depth -= value == ")"
        if depth == 0:
            break
        if depth > 1 or value != "(":
            inside.append((kind, value))
    return [item for item in inside if item != ("op", "*")]  # count(*) counts rows


def _expression_before(items: list[tuple[str, str]], as_position: int) -> str:
    start = as_position
    depth = 0
    while start > 0:
        value = items[start - 1][1]
        depth += value == ")"
        depth -= value == "("
        if depth == 0 and value == ",":
            break
        start -= 1
    return " ".join(value for _, value in items[start:as_position])


_CHECKERS = {"limit": _check_limit, "unnest": _check_unnest, "sort": _check_sort,
             "stats": _check_stats}
