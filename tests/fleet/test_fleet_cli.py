"""`httprecap fleet` against moto's server (CloudWatch Logs on loopback), and the query runner's
polling against a scripted client.

moto's Logs Insights runs `fields` (of @timestamp, @message, @logStream, @log), `sort` and
`limit` over the events of the named log groups in the time window, and ignores every other
command: these tests hold the API round trip (what is sent, the window, the log groups, the
errors), not the answers; docs/FLEET.md says so.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from httprecap.cli.fleet import render_table
from httprecap.cli.main import main
from httprecap.demo.aws import MotoServer
from httprecap.errors import HttprecapError
from httprecap.fleet.insights import InsightsRunner
from httprecap.fleet.insights_queries import query_named

GROUPS = ("/aws/lambda/fleet-orders", "/aws/lambda/fleet-billing")


@pytest.fixture
def logs(aws_env: MotoServer, recaps: dict[str, dict[str, Any]]) -> Any:
    """Two functions' log groups: recaps of two shapes each within the hour, and one recap
    two hours old; Lambda's own START line beside them."""
    client = boto3.client("logs", region_name="us-east-1", endpoint_url=aws_env.url)
    now = int(time.time() * 1000)
    for group in GROUPS:
        if client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            client.delete_log_group(logGroupName=group)
        client.create_log_group(logGroupName=group)
        client.create_log_stream(logGroupName=group, logStreamName="2026/12/06/[$LATEST]x")
        events = [(now - 7_200_000, recaps["one call"]), (now - 60_000, recaps["50 calls"]),
                  (now - 30_000, recaps["timeout"])]
        client.put_log_events(
            logGroupName=group, logStreamName="2026/12/06/[$LATEST]x",
            logEvents=[*({"timestamp": at, "message": json.dumps(recap)} for at, recap in events),
                       {"timestamp": now - 20_000, "message": "START RequestId: r1"}])
    return client


def test_fleet_runs_the_named_query_over_the_named_log_groups(
        logs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fleet", "host-latency", "--since", "1h",
                 "--log-group", GROUPS[0], "--log-group", GROUPS[1]])
    assert code == 0
    [sent] = logs.describe_queries(logGroupName=GROUPS[0])["queries"][-1:]
    assert sent["queryString"] == query_named("host-latency").body
    # moto ignores filter/unnest/stats: what comes back is every event of the window
    # (3 per group, not the one two hours old)
    out, err = capsys.readouterr()
    assert err.startswith("host-latency: 6 rows;")
    assert out == "(6 rows without a field to show)\n"  # moto returns only @ptr for them


def test_the_runner_returns_rows_in_cloudwatchs_order(logs: Any) -> None:
    result = InsightsRunner(region="us-east-1").run(
        "fields @timestamp, @message | sort @timestamp asc | limit 2", 3600, GROUPS[:1])
    messages = [dict(row)["@message"] for row in result.rows]
    assert [json.loads(message)["requestId"] for message in messages] == ["r50", "rt"]
    table = render_table(result.rows).splitlines()
    assert table[0].split() == ["@timestamp", "@message"] and len(table) == 3


def test_an_aws_error_is_one_line(logs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "host-errors", "--log-group", "/aws/lambda/nowhere"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "StartQuery: ResourceNotFoundException" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["fleet", "no-such-query"], "unknown query 'no-such-query'"),
    (["fleet", "host-latency", "--since", "yesterday"], "--since 'yesterday'"),
    (["fleet"], "name a query"),
    (["fleet", "host-latency", "--log-group", "a", "--log-group-prefix", "b"], "not both"),
    (["fleet", "host-latency", "--log-group-prefix", "/x'])|"], "not a log group name prefix"),
    (["fleet", "host-latency", "--wait", "0"], "--wait"),
])
def test_bad_input_is_a_usage_error(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_list_names_every_query(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "--list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["host-latency", "host-errors", "slowest-calls", "failed-calls",
                     "throttled-aws", "findings-by-kind", "functions-by-http-share"]


class ScriptedLogs:
    """A Logs client whose query reports the given statuses, one per GetQueryResults."""

    def __init__(self, *statuses: str) -> None:
        self.statuses = list(statuses)
        self.started: dict[str, Any] = {}
        self.stopped: list[str] = []

    def start_query(self, **params: Any) -> dict[str, str]:
        self.started = params
        return {"queryId": "q-1"}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        rows = [[{"field": "host", "value": "api.example.com"}, {"field": "calls", "value": "3"}]]
        return {"status": status, "results": rows if status == "Complete" else [],
                "statistics": {"recordsMatched": 3.0, "recordsScanned": 9.0,
                               "bytesScanned": 2_000_000.0}}

    def stop_query(self, queryId: str) -> dict[str, bool]:
        self.stopped.append(queryId)
        return {"success": True}


def _runner(client: ScriptedLogs, wait: float = 10.0) -> tuple[InsightsRunner, list[float]]:
    slept: list[float] = []
    runner = InsightsRunner(wait_seconds=wait, sleep=slept.append, now=lambda: 1_000_000.0,
                            _client=client)
    return runner, slept


def test_the_runner_polls_until_the_query_completes() -> None:
    client = ScriptedLogs("Scheduled", "Running", "Complete")
    runner, slept = _runner(client)
    result = runner.run("SOURCE logGroups(namePrefix: [\"/aws/lambda/\"]) | fields x", 86400)
    assert result.rows == [[("host", "api.example.com"), ("calls", "3")]]
    assert slept == [1.0, 1.0]
    assert client.started["startTime"] == 1_000_000 - 86400
    assert client.started["endTime"] == 1_000_000 and "logGroupNames" not in client.started


def test_the_runner_stops_a_query_that_outlasts_the_wait() -> None:
    client = ScriptedLogs("Running")
    runner, slept = _runner(client, wait=3.0)
    with pytest.raises(HttprecapError, match="still running after 3 s: stopped it"):
        runner.run("fields x", 60, ("/aws/lambda/a",))
    assert client.stopped == ["q-1"] and len(slept) == 3


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout"])
def test_a_query_that_does_not_complete_is_an_error(status: str) -> None:
    runner, _ = _runner(ScriptedLogs(status))
    with pytest.raises(HttprecapError, match=f"ended {status.lower()}"):
        runner.run("fields x", 60, ("/aws/lambda/a",))
