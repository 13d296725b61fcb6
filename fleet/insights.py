"""Fleet: runs one Logs Insights query through StartQuery and GetQueryResults (dev-time CLI).

A query runs on CloudWatch's side; this starts it, polls for its results once a second up to a
bounded wait (stopping it when the wait runs out, so it is not left running and billed), and
returns its rows as (field, value) lists in CloudWatch's order, with its statistics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from httprecap.errors import HttprecapError
from httprecap.layer import aws

POLL_SECONDS = 1.0
# GetQueryResults' statuses: a query that is in one of these will not change any more.
DONE = frozenset(("Complete", "Failed", "Cancelled", "Timeout", "Unknown"))

Row = list[tuple[str, str]]


@dataclass
class QueryResult:
    rows: list[Row]
    statistics: dict[str, float]
    query_id: str


@dataclass
class InsightsRunner:
    """Runs queries over a time window ending now; `sleep` and `now` are injectable for tests."""

    region: str | None = None
    wait_seconds: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    _client: Any = field(default=None, repr=False)

    def run(self, query_string: str, since_seconds: float,
            log_groups: tuple[str, ...] = ()) -> QueryResult:
        """Run `query_string` (with a SOURCE line, or over `log_groups` by name)."""
        end = int(self.now())
        start = int(end - since_seconds)
        where = {"logGroupNames": list(log_groups)} if log_groups else {}
        query_id = str(self._call("start_query", queryString=query_string, startTime=start,
                                  endTime=end, **where)["queryId"])
        return self._results(query_id)

    def _results(self, query_id: str) -> QueryResult:
        waited = 0.0
        while True:
            answer = self._call("get_query_results", queryId=query_id)
            status = str(answer.get("status"))
            if status in DONE:
                return self._finished(query_id, status, answer)
            if waited >= self.wait_seconds:
                self._stop(query_id)
                raise HttprecapError(
                    f"query {query_id} still {status.lower()} after {waited:.0f} s: stopped it; "
                    "give a shorter --since, narrower prefixes or a longer --wait")
            self.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

    @staticmethod
    def _finished(query_id: str, status: str, answer: dict[str, Any]) -> QueryResult:
        if status != "Complete":
            raise HttprecapError(f"query {query_id} ended {status.lower()} in CloudWatch Logs")
        rows = [[(str(cell["field"]), str(cell.get("value", ""))) for cell in row]
                for row in answer.get("results", [])]
        statistics = {str(k): float(v) for k, v in (answer.get("statistics") or {}).items()}
        return QueryResult(rows, statistics, query_id)

    def _stop(self, query_id: str) -> None:
        try:
            self._call("stop_query", queryId=query_id)
        except HttprecapError:
            pass  # it may have finished meanwhile; the caller reports the wait either way

    def _call(self, operation: str, **params: Any) -> Any:
        import botocore.exceptions

        self._client = self._client or aws.client("logs", self.region)
        try:
            return getattr(self._client, operation)(**params)
        except botocore.exceptions.ClientError as exc:
            raise HttprecapError(f"CloudWatch Logs {operation}: "
                                 f"{aws.describe_client_error(exc)}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise HttprecapError(f"AWS call failed: {aws.one_line(exc)}") from None
