"""Athena's part played by DuckDB, for the tests of the durable path (no AWS).

What stands in for what:
- the Glue table: a DuckDB view over the delivered objects, its columns the Glue table's own
  (`Columns` as Glue holds them), each Hive type translated to DuckDB's by sqlglot;
- the OpenX JSON SerDe: the objects' JSON keys lowercased at every depth, as the SerDe's
  `case.insensitive` (on by default) reads them; gzip objects (`.gz`, as Firehose names them)
  are read compressed;
- partition projection: DuckDB's Hive partitioning over the same `day=YYYY-MM-DD/` keys;
- Athena's engine: each named query's SQL, translated from Athena's dialect (Trino) to
  DuckDB's by sqlglot, not by hand.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot


def to_duckdb(athena_sql: str) -> str:
    (translated,) = sqlglot.transpile(athena_sql, read="athena", write="duckdb")
    return translated


def duckdb_type(hive_type: str) -> str:
    """`array<struct<host:string>>` as DuckDB spells it (`STRUCT(host TEXT)[]`)."""
    expression = sqlglot.parse_one(f"CAST(x AS {hive_type})", read="hive")
    return expression.to.sql(dialect="duckdb")  # type: ignore[attr-defined,no-any-return]


def lowercase_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key).lower(): lowercase_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [lowercase_keys(item) for item in value]
    return value


def as_the_serde_reads(objects: dict[str, bytes], root: Path) -> Path:
    """The delivered objects (key -> body) under `root`, at their keys, keys of JSON lowercased;
    a gzip object stays gzip (and is named `.gz`, as Firehose names it)."""
    for key, body in objects.items():
        compressed = body.startswith(b"\x1f\x8b")
        text = (gzip.decompress(body) if compressed else body).decode()
        lines = [json.dumps(lowercase_keys(json.loads(line))) for line in text.splitlines()
                 if line.strip()]
        data = "".join(line + "\n" for line in lines).encode()
        name = key if not compressed or key.endswith(".gz") else f"{key}.gz"
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data) if compressed else data)
    return root


def connect(data: Path, table: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """DuckDB with a `recaps` view standing for the Glue table `table` (GetTable's `Table`)
    over the files under `data` (the table's location, `.../recaps/`)."""
    columns = {column["Name"]: duckdb_type(column["Type"])
               for column in table["StorageDescriptor"]["Columns"]}
    partitions = {key["Name"]: "VARCHAR" for key in table["PartitionKeys"]}
    connection = duckdb.connect()
    connection.execute(
        f"CREATE VIEW recaps AS SELECT * FROM read_json('{data}/**', "
        f"format = 'newline_delimited', columns = {_struct_literal(columns)}, "
        f"hive_partitioning = true, hive_types = {_struct_literal(partitions)})")
    return connection


def _struct_literal(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in mapping.items()) + "}"


def run(connection: duckdb.DuckDBPyConnection, athena_sql: str) -> list[dict[str, Any]]:
    cursor = connection.execute(to_duckdb(athena_sql))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]



def serve_athena_in_moto() -> None:
    """Lets moto's server answer Athena as botocore now calls it.

    botocore here describes Athena with the `rest-json` protocol only (`GET /workgroups`, ...),
    and moto (5.2) routes a request by botocore's model but registers Athena's URL `/` alone,
    so every call is a 404. Registering Athena's other paths with the same handler is enough
    for the calls used here. Call it before the first Athena request (moto builds each
    service's routes then)."""
    import moto.athena.urls

    moto.athena.urls.url_paths["{0}/(?P<path>.+)$"] = moto.athena.urls.AthenaResponse.dispatch


def check_host_latency(rows: list[dict[str, Any]], summary: str) -> None:
    """The host-latency query's `rows` are the per-host table `httprecap view --summary`
    printed (`summary`), row for row; its error share agrees with the viewer's ERR%."""
    shown = [line.split() for line in summary.splitlines()[2:]]
    assert [[row["host"], str(row["calls"]), str(row["errors"]),
             f"{row['errors'] / row['calls']:.1%}",
             f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}", f"{row['max_ms']:.1f}"]
            for row in rows] == shown
    # error_pct is rounded half up, the viewer's ERR% half to even: within 0.05 of each other
    for row in rows:
        assert row["error_pct"] == pytest.approx(100 * row["errors"] / row["calls"], abs=0.05)
