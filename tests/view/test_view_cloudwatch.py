"""`httprecap view --log-group`: CloudWatch Logs through boto3, against moto's server mode."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from httprecap.cli.main import main
from httprecap.demo.aws import MotoServer
from httprecap.errors import HttprecapError, UsageError
from httprecap.view.cloudwatch import LogGroupReader, parse_since
from httprecap.view.read import read_lines

GROUP = "/aws/lambda/orders-api"
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def logs(aws_env: MotoServer) -> Any:
    moto = aws_env
    client = boto3.client("logs", region_name="us-east-1", endpoint_url=moto.url)
    for group in client.describe_log_groups()["logGroups"]:
        client.delete_log_group(logGroupName=group["logGroupName"])
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName="2026/11/23/[$LATEST]a1")
    return client


def _put(logs: Any, lines: list[str], at_ms: int | None = None) -> None:
    now = at_ms or int(time.time() * 1000)
    events = [{"timestamp": now + index, "message": line} for index, line in enumerate(lines)]
    logs.put_log_events(logGroupName=GROUP, logStreamName="2026/11/23/[$LATEST]a1",
                        logEvents=events)


def _function_output(fixtures: Path) -> list[str]:
    return (fixtures / "cloudwatch.log").read_text().splitlines()


def test_recaps_are_read_from_a_log_group(logs: Any, fixtures: Path, capsys: Capture) -> None:
    _put(logs, _function_output(fixtures))
    code = main(["view", "--log-group", GROUP, "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    ids = [json.loads(line)["requestId"] for line in out.splitlines()]
    assert ids == ["init", "c94020d1-9001-4995-b5a7-dc0a977d4372",
                   "5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10", "9b0f3d57-6c1e-48a2-8a55-2e6f3c9d4e71",
                   "e1c7a2b4-0d3f-4a9e-b6c5-8f2d1e0a9b37"]
    assert err == "httprecap: skipped 1 unreadable line\n"  # the cut recap; the rest is filtered


def test_request_id_picks_one_invocation(logs: Any, fixtures: Path, capsys: Capture) -> None:
    _put(logs, _function_output(fixtures))
    code = main(["view", "--log-group", GROUP, "--request-id",
                 "5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("invocation 5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10  error")
    assert "c94020d1" not in out


def test_since_leaves_older_events_out(logs: Any, fixtures: Path) -> None:
    recaps = (fixtures / "recaps.jsonl").read_text().splitlines()
    _put(logs, recaps[:1], at_ms=int((time.time() - 3 * 3600) * 1000))
    _put(logs, recaps[1:2])
    found = read_lines(LogGroupReader(GROUP, timedelta(hours=1)).read()).recaps
    assert [recap["requestId"] for recap in found] == ["c94020d1-9001-4995-b5a7-dc0a977d4372"]


def test_pages_are_followed_to_the_end(logs: Any, fixtures: Path) -> None:
    recap = json.loads((fixtures / "recaps.jsonl").read_text().splitlines()[1])
    lines = [json.dumps({**recap, "requestId": f"r-{index}"}) for index in range(120)]
    _put(logs, lines)
    reader = LogGroupReader(GROUP, timedelta(hours=1), page_size=50)  # three pages
    found = read_lines(reader.read()).recaps
    assert [recap["requestId"] for recap in found] == [f"r-{index}" for index in range(120)]


def test_follow_yields_new_recaps_once(logs: Any, fixtures: Path) -> None:
    recaps = (fixtures / "recaps.jsonl").read_text().splitlines()
    _put(logs, recaps[:2])
    polls = LogGroupReader(GROUP, timedelta(minutes=5)).follow(poll_seconds=0,
                                                                sleep=lambda _: None)
    first = read_lines(next(polls)).recaps
    assert [recap["requestId"] for recap in first] == ["init",
                                                       "c94020d1-9001-4995-b5a7-dc0a977d4372"]
    assert next(polls) == []
    _put(logs, recaps[2:3])
    again = read_lines(next(polls)).recaps
    assert [recap["requestId"] for recap in again] == ["5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10"]


def test_a_missing_log_group_is_one_clear_error(logs: Any, capsys: Capture) -> None:
    code = main(["view", "--log-group", "/aws/lambda/nope"])
    _, err = capsys.readouterr()
    assert code == 1
    assert err == "httprecap: error: log group /aws/lambda/nope not found in us-east-1\n"


def test_an_empty_log_group_says_so(logs: Any, capsys: Capture) -> None:
    code = main(["view", "--log-group", GROUP])
    _, err = capsys.readouterr()
    assert code == 1
    assert err == f"httprecap: error: no recaps found in log group {GROUP} (0 lines read)\n"


def test_since_takes_durations() -> None:
    assert parse_since("90s") == timedelta(seconds=90)
    assert parse_since("1h30m") == timedelta(minutes=90)
    assert parse_since("2d") == timedelta(days=2)
    for bad in ("", "1x", "h", "1h 30m"):
        with pytest.raises(UsageError):
            parse_since(bad)


def test_no_credentials_is_one_clear_error(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(HttprecapError, match="no AWS credentials found"):
        LogGroupReader(GROUP, timedelta(hours=1)).read()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "no output in time"
    return process.stdout.readline()


def test_cli_follow_streams_recaps_as_they_arrive(logs: Any, fixtures: Path,
                                                  moto: MotoServer) -> None:
    recaps = (fixtures / "recaps.jsonl").read_text().splitlines()
    _put(logs, recaps[1:2])
    env = {**os.environ, **moto.environment(), "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    process = subprocess.Popen(
        [sys.executable, "-m", "httprecap.cli.main", "view", "--log-group", GROUP, "--follow",
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        first = json.loads(_read_line(process, 30))
        _put(logs, recaps[2:3])
        second = json.loads(_read_line(process, 30))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [first["requestId"], second["requestId"]] == [
        "c94020d1-9001-4995-b5a7-dc0a977d4372", "5d1e7c2a-1b1f-4c52-9a43-7f0c8a9e2b10"]


def test_findings_are_grouped_from_a_log_group(logs: Any, fixtures: Path,
                                               capsys: Capture) -> None:
    _put(logs, [f"2026-11-23T18:30:00.500Z\t{line}" for line in
                (fixtures / "findings.jsonl").read_text().splitlines()])
    code = main(["view", "--log-group", GROUP, "--findings"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("findings: 5 in 2 of 4 invocations")
    assert "dynamodb GetItem orders" in out


def test_follow_with_findings_prints_each_new_invocations_findings(
        logs: Any, fixtures: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (fixtures / "findings.jsonl").read_text().splitlines()

    def two_polls(self: LogGroupReader) -> Any:
        yield lines[2:4]  # no findings: nothing printed
        yield lines[1:2]

    monkeypatch.setattr(LogGroupReader, "follow", two_polls)
    assert main(["view", "--log-group", GROUP, "--follow", "--findings"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("invocation 0d9e4b77-2c1a-4f3e-8b6d-5a4c3b2a1f00  success")
    assert out[1:4] == ["  findings:",
                        "    info     identical-call  GET http://127.0.0.1:8710/customers/c-8 "
                        "2 times (58.0 ms in all): a cache would do (calls 1, 2)",
                        "    warning  repeated-call   5 dynamodb GetItem calls on orders "
                        "(55.0 ms in all): one BatchGetItem would do (calls 3-7)"]
    assert "#  METHOD" not in "\n".join(out)
