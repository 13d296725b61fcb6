"""Fleet: the Glue table over the recaps Firehose delivers to S3, and the Athena
queries that answer the fleet's questions from it (dev-time: the examples are rendered from
here by `python -m httprecap.fleet.athena_iac`).

The `firehose://` sink writes one recap per line; the example stack's Firehose stream delivers
them, gzip-compressed, under `recaps/day=YYYY-MM-DD/` (the UTC day they reached Firehose). The
table reads them with the OpenX JSON SerDe, which matches the recap's camelCase keys to the
table's lowercase columns. Its one partition, `day`, is projected (partition projection), so no
crawler or `MSCK REPAIR` is needed, and a query that filters on `day` reads only those days.

The queries are written in Athena's dialect (Trino). Per-host percentiles are exact nearest-rank
figures, the definition `httprecap view --summary` uses, rather than `approx_percentile`, so
both give the same numbers for the same recaps; "failed" is the viewer's definition too (an
exception, a status of 400 or more, or a call still in flight when the invocation ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

DATABASE = "httprecap"
TABLE = "recaps"
DATA_PREFIX = "recaps/"
PARTITION = "day"
PARTITION_FORMAT = "yyyy-MM-dd"  # Java's pattern, for Firehose's prefix and the projection
FIREHOSE_PREFIX = f"{DATA_PREFIX}{PARTITION}=!{{timestamp:{PARTITION_FORMAT}}}/"
FIREHOSE_ERROR_PREFIX = f"errors/!{{firehose:error-output-type}}/{PARTITION}=" \
                        f"!{{timestamp:{PARTITION_FORMAT}}}/"
SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
SERDE_PARAMETERS = {"ignore.malformed.json": "true"}

# A column's type: a Hive type name, a struct (field name -> type), or an array of one type.
# Names are the recap's own (camelCase); Glue gets them lowercased, as the SerDe reads them.
Type = Union[str, "Struct", "Array"]
Struct = dict[str, Type]


@dataclass(frozen=True)
class Array:
    of: Type


ERROR: Struct = {"type": "string", "message": "string"}
ATTEMPT: Struct = {"startedAt": "string", "durationMs": "double", "status": "int",
                   "error": ERROR, "url": "string"}
AWS_CALL: Struct = {"service": "string", "operation": "string", "region": "string",
                    "resource": "string"}
CALL: Struct = {
    "id": "string", "method": "string", "url": "string", "scheme": "string", "host": "string",
    "port": "int", "path": "string", "status": "int", "startedAt": "string",
    "offsetMs": "double", "durationMs": "double", "error": ERROR, "bytesSent": "bigint",
    "bytesReceived": "bigint", "library": "string", "thread": "string",
    "attempts": Array(ATTEMPT), "aws": AWS_CALL, "proxy": "string", "timeoutS": "double",
    "connection": "string", "connectMs": "double", "tlsMs": "double", "inFlight": "boolean",
}
HOST_SUMMARY: Struct = {"host": "string", "count": "int", "errors": "int", "totalMs": "double",
                        "maxMs": "double"}
OTHER_HOSTS: Struct = {"hosts": "int", "count": "int", "errors": "int", "totalMs": "double",
                       "maxMs": "double"}
SLOWEST: Struct = {"id": "string", "method": "string", "host": "string", "path": "string",
                   "durationMs": "double"}
SUMMARY: Struct = {
    "count": "int", "errors": "int", "totalHttpMs": "double", "httpShare": "double",
    "bytesSent": "bigint", "bytesReceived": "bigint", "slowest": SLOWEST,
    "hosts": Array(HOST_SUMMARY), "otherHosts": OTHER_HOSTS, "findings": "map<string,int>",
}
FINDING: Struct = {"kind": "string", "severity": "string", "message": "string",
                   "callIds": Array("string"), "endpoint": "string", "count": "int",
                   "totalMs": "double"}
# `timestamp` is a reserved word in Athena's SQL: a query names it "timestamp" (startedAt is the
# same instant).
COLUMNS: Struct = {
    "type": "string", "version": "int", "level": "string", "timestamp": "string",
    "phase": "string", "requestId": "string", "functionName": "string",
    "functionVersion": "string", "functionArn": "string", "alias": "string", "region": "string",
    "accountId": "string", "memorySizeMB": "int", "architecture": "string", "runtime": "string",
    "tenantId": "string", "status": "string", "startedAt": "string", "durationMs": "double",
    "traceId": "string", "summary": SUMMARY,
    "dropped": {"count": "int", "reasons": "map<string,int>"},
    "overhead": {"functionUs": "bigint", "extensionMs": "double"},
    "findings": Array(FINDING), "calls": Array(CALL), "hint": "string",
    "truncated": {"calls": "int", "hosts": "int", "fields": "boolean"}, "compact": "boolean",
}


def hive_type(value: Type) -> str:
    """The Hive type name Glue stores: `array<struct<host:string,...>>`, names lowercased."""
    if isinstance(value, Array):
        return f"array<{hive_type(value.of)}>"
    if isinstance(value, dict):
        fields = ",".join(f"{name.lower()}:{hive_type(kind)}" for name, kind in value.items())
        return f"struct<{fields}>"
    return value


def glue_columns() -> list[dict[str, str]]:
    return [{"Name": name.lower(), "Type": hive_type(kind)} for name, kind in COLUMNS.items()]


def table_parameters(location: str) -> dict[str, str]:
    """The table's properties: partition projection over `day`, one S3 prefix per day.
    `location` is the table's `s3://BUCKET/recaps/`."""
    return {
        "classification": "json",
        "projection.enabled": "true",
        f"projection.{PARTITION}.type": "date",
        f"projection.{PARTITION}.format": PARTITION_FORMAT,
        f"projection.{PARTITION}.range": "NOW-1YEARS,NOW",
        f"projection.{PARTITION}.interval": "1",
        f"projection.{PARTITION}.interval.unit": "DAYS",
        "storage.location.template": f"{location}{PARTITION}=${{{PARTITION}}}/",
    }


# ------------------------------------------------------------------------ the queries' parts

# The last 24 hours: `day` prunes the partitions read, `startedAt` cuts to the hour.
WINDOW = ("day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')\n"
          "  AND from_iso8601_timestamp(startedat) > current_timestamp - INTERVAL '24' HOUR")
# The viewer's host label: the port is shown when it is not the scheme's default.
HOST = ("CASE WHEN c.port IS NULL\n"
        "       OR c.port = CASE c.scheme WHEN 'http' THEN 80 WHEN 'https' THEN 443 END\n"
        "     THEN coalesce(c.host, '?')\n"
        "     ELSE concat(coalesce(c.host, '?'), ':', CAST(c.port AS varchar)) END")
FAILED = "(c.error IS NOT NULL OR coalesce(c.inflight, false) OR coalesce(c.status, 0) >= 400)"
THROTTLING = "Throttl|TooManyRequests|SlowDown|RequestLimitExceeded|ProvisionedThroughputExceeded"
THROTTLED = (f"(coalesce(c.status, 0) = 429"
             f" OR regexp_like(coalesce(c.error.message, ''), '{THROTTLING}'))")
CALLS = "recaps CROSS JOIN UNNEST(calls) AS t(c)"
# One function across the fleet: a name is unique within an account and a region only.
FUNCTION = "concat_ws(':', accountid, region, functionname)"


def _at(expression: str, column: int) -> str:
    """A multi-line expression placed at `column`: its later lines indented to match."""
    return expression.replace("\n", "\n" + " " * column)


@dataclass(frozen=True)
class NamedQuery:
    """One Athena named query: `name` is the suffix of `httprecap-NAME`."""

    name: str
    description: str
    sql: str

    @property
    def full_name(self) -> str:
        return f"httprecap-{self.name}"


HOST_LATENCY = NamedQuery("host-latency", "Per upstream host across all functions, last 24 h: "
                          "calls, failed calls, error rate, p50/p95/max latency", f"""\
WITH host_calls AS (
  SELECT {_at(HOST, 9)} AS host,
         {FUNCTION} AS function_key,
         coalesce(c.durationms, 0) AS duration_ms,
         {FAILED} AS failed
  FROM {CALLS}
  WHERE {_at(WINDOW, 2)}
), ranked AS (
  SELECT host, function_key, duration_ms, failed,
         row_number() OVER (PARTITION BY host ORDER BY duration_ms) AS nth,
         count(*) OVER (PARTITION BY host) AS total
  FROM host_calls
)
SELECT host,
       count(*) AS calls,
       count_if(failed) AS errors,
       round(100.0 * count_if(failed) / count(*), 1) AS error_pct,
       max(CASE WHEN nth = greatest(1, ceil(total * 0.50)) THEN duration_ms END) AS p50_ms,
       max(CASE WHEN nth = greatest(1, ceil(total * 0.95)) THEN duration_ms END) AS p95_ms,
       max(duration_ms) AS max_ms,
       count(DISTINCT function_key) AS functions
FROM ranked
GROUP BY host
ORDER BY calls DESC, host
""")

SLOWEST_CALLS = NamedQuery("slowest-calls", "The 50 slowest calls of the last 24 h, with their "
                           "function and invocation", f"""\
SELECT accountid AS account_id,
       region,
       functionname AS function_name,
       functionversion AS function_version,
       requestid AS request_id,
       c.method,
       {_at(HOST, 7)} AS host,
       c.path,
       c.status,
       c.durationms AS duration_ms,
       c.startedat AS started_at
FROM {CALLS}
WHERE {WINDOW}
ORDER BY c.durationms DESC, requestid, c.id
LIMIT 50
""")

FAILED_CALLS = NamedQuery("failed-calls", "Failed calls of the last 24 h by host and outcome "
                          "(status, exception type, or in flight)", f"""\
SELECT {_at(HOST, 7)} AS host,
       coalesce(CAST(c.status AS varchar), c.error.type, 'in flight') AS outcome,
       count(*) AS calls,
       count(DISTINCT {FUNCTION}) AS functions,
       max(c.error.message) AS an_error
FROM {CALLS}
WHERE {WINDOW}
  AND {FAILED}
GROUP BY 1, 2
ORDER BY calls DESC, host, outcome
""")

THROTTLED_OPERATIONS = NamedQuery("throttled-operations", "AWS operations throttled in the last "
                                  "24 h (status 429 or a throttling error), by region, account "
                                  "and function",
                                  f"""\
SELECT c.aws.service AS service,
       c.aws.operation AS operation,
       c.aws.region AS aws_region,
       accountid AS account_id,
       functionname AS function_name,
       count(*) AS calls,
       count_if({THROTTLED}) AS throttled,
       round(100.0 * count_if({THROTTLED}) / count(*), 1) AS throttled_pct
FROM {CALLS}
WHERE {WINDOW}
  AND c.aws.service IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
HAVING count_if({THROTTLED}) > 0
ORDER BY throttled DESC, service, operation, aws_region, account_id, function_name
""")

FINDINGS_BY_KIND = NamedQuery("findings-by-kind", "Findings of the last 24 h by kind and "
                              "severity: how many, in how many invocations and functions",
                              f"""\
SELECT f.kind,
       f.severity,
       count(*) AS findings,
       count(DISTINCT requestid) AS invocations,
       count(DISTINCT {FUNCTION}) AS functions,
       round(sum(f.totalms), 1) AS total_ms
FROM recaps CROSS JOIN UNNEST(findings) AS t(f)
WHERE {WINDOW}
GROUP BY f.kind, f.severity
ORDER BY findings DESC, f.kind, f.severity
""")

FUNCTIONS_BY_HTTP_SHARE = NamedQuery("functions-by-http-share", "Functions by the share of "
                                     "their invocations' time spent waiting on HTTP, last 24 h",
                                     f"""\
SELECT accountid AS account_id,
       region,
       functionname AS function_name,
       count(*) AS invocations,
       round(avg(summary.httpshare), 3) AS avg_http_share,
       round(max(summary.httpshare), 3) AS max_http_share,
       sum(summary.count) AS calls,
       sum(summary.errors) AS failed_calls,
       round(avg(durationms), 1) AS avg_duration_ms
FROM recaps
WHERE {WINDOW}
  AND phase = 'invoke'
GROUP BY 1, 2, 3
ORDER BY avg_http_share DESC, account_id, region, function_name
""")

QUERIES = (HOST_LATENCY, SLOWEST_CALLS, FAILED_CALLS, THROTTLED_OPERATIONS, FINDINGS_BY_KIND,
           FUNCTIONS_BY_HTTP_SHARE)
