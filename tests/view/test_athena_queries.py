"""The Athena queries of httprecap.fleet.athena on the viewer's sample recaps (every shape: init,
redirects, failures, a timeout with a call in flight, findings), delivered gzip-compressed as
Firehose writes them and read by DuckDB standing in for Athena (tests/athena_support.py). The
samples' start times are moved to the last hour, as the queries read the last 24 hours."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import athena_support
import pytest

from httprecap.cli.main import main
from httprecap.fleet import athena
from httprecap.view.read import calls_of

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def samples(fixtures: Path, tmp_path: Path) -> Path:
    """The samples as JSON lines, each invocation started within the last hour."""
    now = datetime.now(timezone.utc) - timedelta(minutes=30)
    lines = []
    for name in ("recaps.jsonl", "findings.jsonl"):
        for index, line in enumerate((fixtures / name).read_text().splitlines()):
            recap = json.loads(line)
            recap["startedAt"] = (now + timedelta(seconds=index)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
            lines.append(json.dumps(recap))
    path = tmp_path / "recaps.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def duckdb_recaps(samples: Path, tmp_path: Path) -> Any:
    """The samples in two gzip objects under today's partition, read through the table."""
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = samples.read_text().splitlines(keepends=True)
    prefix = f"{athena.DATA_PREFIX}day={day}/recaps-1-{day}-"
    objects = {f"{prefix}00-00-00-a.gz": gzip.compress("".join(lines[:4]).encode()),
               f"{prefix}00-05-00-b.gz": gzip.compress("".join(lines[4:]).encode())}
    root = athena_support.as_the_serde_reads(objects, tmp_path / "s3")
    table = {"StorageDescriptor": {"Columns": athena.glue_columns()},
             "PartitionKeys": [{"Name": athena.PARTITION, "Type": "string"}]}
    connection = athena_support.connect(root / athena.DATA_PREFIX, table)
    yield connection
    connection.close()


def test_host_latency_gives_the_per_host_figures_of_view_summary(
        duckdb_recaps: Any, samples: Path, capsys: Capture) -> None:
    rows = athena_support.run(duckdb_recaps, athena.HOST_LATENCY.sql)
    assert main(["view", "--summary", "--color", "never", str(samples)]) == 0
    athena_support.check_host_latency(rows, capsys.readouterr().out)


def test_findings_by_kind_count_the_samples_findings(duckdb_recaps: Any, samples: Path) -> None:
    recaps = [json.loads(line) for line in samples.read_text().splitlines()]
    expected = Counter((finding["kind"], finding["severity"])
                       for recap in recaps for finding in recap.get("findings") or [])
    rows = athena_support.run(duckdb_recaps, athena.FINDINGS_BY_KIND.sql)
    assert len(expected) > 2
    assert {(row["kind"], row["severity"]): row["findings"] for row in rows} == expected


def test_a_call_in_flight_is_a_failed_call(duckdb_recaps: Any, samples: Path) -> None:
    recaps = [json.loads(line) for line in samples.read_text().splitlines()]
    in_flight = [call for recap in recaps for call in calls_of(recap) if call.get("inFlight")]
    rows = athena_support.run(duckdb_recaps, athena.FAILED_CALLS.sql)
    assert in_flight and sum(row["calls"] for row in rows if row["outcome"] == "in flight") == \
        len(in_flight)


def test_every_query_translates_and_runs(duckdb_recaps: Any) -> None:
    for query in athena.QUERIES:
        athena_support.run(duckdb_recaps, query.sql)  # raises on a translation or a column
