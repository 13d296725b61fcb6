"""The fleet queries (fleet/insights_queries.py) against the documented Logs Insights grammar and
against recaps of every shape the extension builds: every field a query reads exists."""

from __future__ import annotations

from typing import Any

import pytest
from insights_grammar import SYSTEM_FIELDS, Checked, QuerySyntaxError, check

from httprecap.errors import UsageError
from httprecap.fleet.insights_queries import QUERIES, Query, query_named, source_line

DISCOVERED_LIMIT = 200  # fields Logs Insights discovers in a JSON event (docs/FLEET.md)
PARSED = "jsonParse ( @message )"


def recap_path(name: str, aliases: dict[str, str]) -> list[str] | None:
    """The recap path a query field reads (`[]` for each unnested array); None for one of the
    query's own results (a stats alias) or a system field."""
    if name in SYSTEM_FIELDS:
        return None
    root, *rest = name.split(".")
    if root not in aliases:
        return [root, *rest]  # a discovered field
    bound = aliases[root]
    if bound == PARSED:
        return rest
    if bound.endswith("[]"):
        base = recap_path(bound[:-2], aliases)
        assert base is not None, f"{name}: unnests {bound} which is no recap field"
        return [*base, "[]", *rest]
    assert not rest, f"{name}: {root} is a result of the query, not an object"
    return None


def present(value: Any, path: list[str]) -> bool:
    if not path:
        return True
    head, *rest = path
    if head == "[]":
        return isinstance(value, list) and any(present(item, rest) for item in value)
    return isinstance(value, dict) and head in value and present(value[head], rest)


def discovered(recap: Any, prefix: str = "") -> list[str]:
    """Leaf field names as Logs Insights flattens a JSON event (`calls.0.host`), in order."""
    if isinstance(recap, dict):
        return [name for key, value in recap.items()
                for name in discovered(value, f"{prefix}{key}.")]
    if isinstance(recap, list) and recap:
        return [name for index, value in enumerate(recap)
                for name in discovered(value, f"{prefix}{index}.")]
    return [prefix[:-1]]


def checked_query(query: Query) -> Checked:
    return check(query.with_source(("/aws/lambda/",)))


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query.name)
def test_query_keeps_to_the_documented_grammar(query: Query) -> None:
    checked = checked_query(query)
    assert checked.aliases["recap"] == PARSED


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query.name)
def test_every_field_a_query_reads_is_in_the_recaps(
        query: Query, recaps: dict[str, dict[str, Any]]) -> None:
    checked = checked_query(query)
    paths = {name: recap_path(name, checked.aliases) for name in checked.fields}
    missing = [name for name, path in paths.items() if path is not None
               and not any(present(recap, path) for recap in recaps.values())]
    assert missing == []


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query.name)
def test_fields_read_without_json_parse_are_discovered_in_every_shape(
        query: Query, recaps: dict[str, dict[str, Any]]) -> None:
    checked = checked_query(query)
    bare = [name for name in checked.fields
            if name not in SYSTEM_FIELDS and name.split(".")[0] not in checked.aliases]
    assert bare, "each query selects recap lines by a discovered field"
    for shape, recap in recaps.items():
        first = discovered(recap)[:DISCOVERED_LIMIT]
        assert [name for name in bare if name not in first] == [], shape


def test_the_corpus_holds_every_shape(recaps: dict[str, dict[str, Any]]) -> None:
    counts = {shape: len(recap["calls"]) for shape, recap in recaps.items()}
    assert counts["no calls"] == 0 and counts["one call"] == 1
    assert counts["50 calls"] == 50 and counts["5000 calls"] == 5000
    assert recaps["init"]["phase"] == "init" and recaps["timeout"]["status"] == "timeout"
    assert any(call.get("inFlight") for call in recaps["timeout"]["calls"])
    assert recaps["50 calls"]["findings"] and "findings" not in recaps["findings off"]
    assert len(discovered(recaps["5000 calls"])) > DISCOVERED_LIMIT


def test_a_misnamed_field_is_caught(recaps: dict[str, dict[str, Any]]) -> None:
    checked = check('fields jsonParse(@message) as recap | unnest recap.calls into call '
                    '| stats count(*) as n by call.hostname')
    path = recap_path("call.hostname", checked.aliases)
    assert path == ["calls", "[]", "hostname"]
    assert not any(present(recap, path) for recap in recaps.values())


@pytest.mark.parametrize("query", [
    "stats median(x) by y",                      # no such aggregation
    "fields a | stats count(*) as n by b | lmit 10",  # unknown command
    "fields a | SOURCE logGroups(namePrefix: ['/x'])",  # SOURCE not first
    "unnest recap.calls as call",                # unnest takes `into`
    "filter pct(a, 95) > 3",                     # aggregation outside stats
    "stats pct(a) as p by b",                    # pct takes a percentile
    "fields (a",                                 # unbalanced
    "limit 1.5",
])
def test_the_checker_refuses_what_is_not_documented(query: str) -> None:
    with pytest.raises(QuerySyntaxError):
        check(query)


def test_source_line_names_the_prefixes() -> None:
    assert source_line(("/aws/lambda/", "/custom/")) == (
        'SOURCE logGroups(namePrefix: ["/aws/lambda/", "/custom/"])')
    assert query_named("host-latency").with_source(("/aws/lambda/",)).startswith(
        'SOURCE logGroups(namePrefix: ["/aws/lambda/"])\n| filter type = "httprecap.recap"')


@pytest.mark.parametrize("prefixes", [(), ("a",) * 6, ("/aws/lambda/']) | fields x",)])
def test_source_line_refuses_bad_prefixes(prefixes: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        source_line(prefixes)


def test_query_names_are_unique_and_titles_name_httprecap() -> None:
    assert len({query.name for query in QUERIES}) == len(QUERIES)
    assert all(query.title.startswith("httprecap: ") for query in QUERIES)
