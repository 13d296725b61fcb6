"""Findings (docs/FINDINGS.md): each detector over synthetic calls, no sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ext_support import T0, call

from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.findings import registry
from httprecap.external.aggregate.findings.endpoints import normalise_path
from httprecap.external.aggregate.findings.facts import Facts
from httprecap.external.aggregate.findings.finding import MAX_CALL_IDS, Thresholds
from httprecap.external.aggregate.findings.history import MIN_SAMPLES, History
from httprecap.external.aggregate.findings.registry import DETECTORS, Findings
from httprecap.settings import FINDING_KINDS, Settings

_counter = iter(range(1, 1_000_000))


def _call(offset_ms: float = 0.0, duration_ms: float = 10.0, in_flight: bool = False,
          **fields: Any) -> EncodedCall:
    record = call("r1", f"c-{next(_counter)}", offset_ms, duration_ms, **fields)
    if in_flight:
        return EncodedCall(record, record["startedAtUs"] + round(duration_ms * 1000))
    return EncodedCall(record)


def _aws(service: str, operation: str, resource: str | None = None,
         **fields: Any) -> dict[str, Any]:
    aws: dict[str, Any] = {"service": service, "operation": operation, "region": "eu-west-1"}
    if resource is not None:
        aws["resource"] = resource
    return {"method": "POST", "host": f"{service}.eu-west-1.amazonaws.com", "path": "/",
            "url": f"https://{service}.eu-west-1.amazonaws.com/", "aws": aws, **fields}


def _facts(calls: list[EncodedCall], duration_ms: float = 1000.0, status: str = "success",
           http_share: float = 0.5, deadline_us: int | None = None) -> Facts:
    return Facts(sorted(calls, key=lambda c: (c.begin_us, c.id)), started_us=T0,
                 duration_ms=duration_ms, status=status, http_share=http_share,
                 deadline_us=deadline_us)


def _kinds(facts: Facts, findings: Findings | None = None) -> dict[str, list[dict[str, Any]]]:
    found, _ = (findings or Findings()).detect(facts)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in found:
        by_kind.setdefault(item["kind"], []).append(item)
    return by_kind


def _only(facts: Facts, kind: str, findings: Findings | None = None) -> list[dict[str, Any]]:
    return _kinds(facts, findings).get(kind, [])


def _item(number: int, offset_ms: float, duration_ms: float = 10.0) -> EncodedCall:
    return _call(offset_ms, duration_ms, path=f"/v1/items/{number}",
                 url=f"https://api.example.com/v1/items/{number}?expand={number}")


# ------------------------------------------------------------------------------ endpoints

def test_paths_lose_their_ids_but_keep_api_versions() -> None:
    assert normalise_path("/v2/customers/c-7/orders/42") == "/v2/customers/{id}/orders/{id}"
    assert normalise_path("/items/0b7e4c1a-53f4-4a6e-a1d5-0f9a7cbb3f11") == "/items/{id}"
    assert normalise_path("/blobs/deadbeefcafebabefeed") == "/blobs/{id}"
    assert normalise_path("/health") == "/health"


def test_an_aws_call_is_named_by_service_operation_and_resource() -> None:
    assert _call(**_aws("dynamodb", "GetItem", "orders")).facts.endpoint == \
        "dynamodb GetItem orders"
    assert _call(**_aws("sts", "GetCallerIdentity")).facts.endpoint == "sts GetCallerIdentity"
    assert _item(3, 0).facts.endpoint == "GET api.example.com/v1/items/{id}"


# ------------------------------------------------------------------------------ repeated-call

def test_repeated_dynamodb_gets_name_the_batch_operation() -> None:
    calls = [_call(i * 20.0, **_aws("dynamodb", "GetItem", "orders")) for i in range(6)]
    (found,) = _only(_facts(calls), "repeated-call")
    assert found["batchOperation"] == "BatchGetItem" and found["count"] == 6
    assert found["severity"] == "warning" and found["endpoint"] == "dynamodb GetItem orders"
    assert found["callIds"] == [c.id for c in calls]
    assert found["message"] == "6 dynamodb GetItem calls on orders (60.0 ms in all): one " \
                               "BatchGetItem would do"


def test_repeated_http_calls_differing_by_id_and_query_are_one_endpoint() -> None:
    (found,) = _only(_facts([_item(n, n * 20.0) for n in range(5)]), "repeated-call")
    assert found["endpoint"] == "GET api.example.com/v1/items/{id}" and found["count"] == 5
    assert "batchOperation" not in found


def test_calls_to_other_tables_or_below_the_threshold_are_not_repeated() -> None:
    calls = [_call(i * 20.0, **_aws("dynamodb", "GetItem", f"table-{i % 2}"))
             for i in range(8)]
    assert _only(_facts(calls), "repeated-call") == []  # 4 on each table
    assert _only(_facts([_item(n, n * 20.0) for n in range(4)]), "repeated-call") == []


def test_the_same_url_again_is_identical_not_repeated() -> None:
    calls = [_call(i * 20.0) for i in range(5)]
    kinds = _kinds(_facts(calls))
    assert "repeated-call" not in kinds
    assert kinds["identical-call"][0]["count"] == 5


def test_many_posts_to_one_url_are_repeated() -> None:
    calls = [_call(i * 20.0, method="POST", path="/graphql",
                   url="https://api.example.com/graphql") for i in range(6)]
    (found,) = _only(_facts(calls), "repeated-call")
    assert found["endpoint"] == "POST api.example.com/graphql" and found["count"] == 6


def test_repeated_threshold_is_a_knob() -> None:
    findings = Findings(limits=Thresholds(repeated_min=3))
    assert len(_only(_facts([_item(n, n * 20.0) for n in range(3)]), "repeated-call",
                     findings)) == 1


# ----------------------------------------------------------------------------- identical-call

def test_the_same_get_twice_is_identical() -> None:
    first, second = _call(0.0), _call(50.0)
    (found,) = _only(_facts([first, second, _item(1, 80.0)]), "identical-call")
    assert found["url"] == "https://api.example.com/v1/items" and found["count"] == 2
    assert found["callIds"] == [first.id, second.id] and found["severity"] == "info"


def test_the_same_post_twice_is_not_identical() -> None:
    calls = [_call(0.0, method="POST"), _call(50.0, method="POST")]
    assert _only(_facts(calls), "identical-call") == []


# --------------------------------------------------------------------------- sequential-calls

def test_independent_calls_one_after_another_are_sequential() -> None:
    calls = [_call(0.0, 100.0, path="/a"), _call(100.0, 100.0, path="/b"),
             _call(200.0, 100.0, **_aws("dynamodb", "Query", "orders")),
             _call(300.0, 100.0, path="/c")]
    (found,) = _only(_facts(calls, duration_ms=450.0), "sequential-calls")
    assert found["count"] == 4 and found["savedMs"] == 300.0 and found["share"] == 0.667


def test_concurrent_calls_are_not_sequential() -> None:
    calls = [_call(0.0, 200.0, path=f"/{name}") for name in "abcd"]
    assert _only(_facts(calls, duration_ms=250.0), "sequential-calls") == []


def test_a_credentials_fetch_and_a_repeated_endpoint_end_a_run() -> None:
    calls = [_call(0.0, 150.0, **_aws("sts", "AssumeRole")),
             _call(150.0, 150.0, **_aws("s3", "ListBuckets")),
             _call(300.0, 150.0, **_aws("s3", "ListBuckets"))]
    assert _only(_facts(calls, duration_ms=500.0), "sequential-calls") == []


def test_a_redirect_followed_by_hand_is_a_chain_not_a_run() -> None:
    calls = [_call(0.0, 150.0, path="/old", status=302, host="a.example.com"),
             _call(150.0, 150.0, path="/new", host="b.example.com")]
    assert _only(_facts(calls, duration_ms=350.0), "sequential-calls") == []
    calls.append(_call(300.0, 150.0, path="/other"))  # after the chain: a run of two
    (found,) = _only(_facts(calls, duration_ms=500.0), "sequential-calls")
    assert found["callIds"] == [calls[1].id, calls[2].id]


def test_a_not_modified_answer_is_no_redirect() -> None:
    calls = [_call(0.0, 150.0, path="/cached", status=304), _call(150.0, 150.0, path="/other")]
    assert len(_only(_facts(calls, duration_ms=350.0), "sequential-calls")) == 1


def test_sequential_savings_below_the_thresholds_say_nothing() -> None:
    calls = [_call(0.0, 40.0, path="/a"), _call(40.0, 40.0, path="/b")]
    assert _only(_facts(calls, duration_ms=100.0), "sequential-calls") == []  # 40 ms saved
    calls = [_call(0.0, 150.0, path="/a"), _call(150.0, 150.0, path="/b")]
    assert _only(_facts(calls, duration_ms=10_000.0), "sequential-calls") == []  # 1.5 %
    relaxed = Findings(limits=Thresholds(sequential_share=0.01))
    assert len(_only(_facts(calls, duration_ms=10_000.0), "sequential-calls", relaxed)) == 1


def test_a_call_with_a_negative_duration_hides_no_run() -> None:
    """A broken clock's negative duration lowers no run's sum below what it saves."""
    calls = [_call(0.0, -500.0, **_aws("sts", "AssumeRole")), _call(10.0, 150.0, path="/a"),
             _call(160.0, 150.0, path="/b")]
    (found,) = _only(_facts(calls, duration_ms=350.0), "sequential-calls")
    assert found["callIds"] == [calls[1].id, calls[2].id] and found["savedMs"] == 150.0


# ------------------------------------------------------------------------------------ retries

def _attempt(offset_ms: float, status: int | None, duration_ms: float = 5.0) -> dict[str, Any]:
    return {"startedAtUs": T0 + round(offset_ms * 1000), "durationMs": duration_ms,
            "status": status, "error": None if status else {"type": "ConnectTimeoutError"},
            "url": "https://api.example.com/v1/items"}


def test_attempts_lost_to_5xx_and_errors_are_counted_with_their_time() -> None:
    retried = _call(0.0, 300.0, attempts=[_attempt(0, 503), _attempt(100, None),
                                          _attempt(250, 200)])
    (found,) = _only(_facts([retried, _call(400.0, path="/a"), _call(450.0, path="/b")]),
                     "retries")
    assert (found["count"], found["retries"], found["lostMs"]) == (1, 2, 250.0)
    assert found["storm"] is False and found["severity"] == "info"


def test_redirects_are_not_retries() -> None:
    redirected = _call(0.0, 30.0, attempts=[_attempt(0, 302), _attempt(10, 200)])
    assert _only(_facts([redirected]), "retries") == []


def test_aws_throttling_is_a_warning_and_most_calls_retrying_a_storm() -> None:
    throttled = [_call(i * 100.0, 90.0, status=400,
                       error={"type": "ProvisionedThroughputExceededException", "message": ""},
                       attempts=[_attempt(i * 100, 400), _attempt(i * 100 + 50, 400)],
                       **_aws("dynamodb", "PutItem", "orders")) for i in range(3)]
    (found,) = _only(_facts([*throttled, _call(400.0)]), "retries")
    assert (found["count"], found["throttled"], found["retries"]) == (3, 3, 3)
    assert found["storm"] is True and found["severity"] == "warning"


def test_a_throttling_code_botocore_raised_as_client_error_is_throttling() -> None:
    message = ("An error occurred (ProvisionedThroughputExceededException) when calling the "
               "GetItem operation (reached max retries: 0): Rate exceeded")
    throttled = _call(0.0, status=400, error={"type": "ClientError", "message": message},
                      **_aws("dynamodb", "GetItem", "orders"))
    other = _call(50.0, status=400, error={"type": "ClientError", "message": "An error "
                  "occurred (ValidationException) when calling the GetItem operation"},
                  **_aws("dynamodb", "GetItem", "orders"))
    (found,) = _only(_facts([throttled, other]), "retries")
    assert (found["count"], found["throttled"], found["retries"]) == (1, 1, 0)
    assert found["callIds"] == [throttled.id] and found["severity"] == "warning"


def test_storm_share_is_a_knob() -> None:
    retried = [_call(i * 100.0, attempts=[_attempt(i * 100, 500), _attempt(i * 100 + 5, 200)])
               for i in range(2)]
    calls = [*retried, _call(300.0, path="/a"), _call(350.0, path="/b")]
    assert _only(_facts(calls), "retries")[0]["storm"] is True  # half of them
    strict = Findings(limits=Thresholds(retry_storm_share=0.75))
    assert _only(_facts(calls), "retries", strict)[0]["storm"] is False


# --------------------------------------------------------------------------------- no-timeout

DEADLINE = T0 + 3_000_000  # the function has 3 s from T0


def test_a_call_without_a_timeout_is_found_per_host() -> None:
    calls = [_call(0.0, timeoutS=None), _call(100.0, timeoutS=None, path="/b")]
    (found,) = _only(_facts(calls, deadline_us=DEADLINE), "no-timeout")
    assert found["host"] == "api.example.com" and found["count"] == 2
    assert found["timeoutS"] is None and found["remainingS"] == 2.9


def test_a_timeout_longer_than_the_remaining_time_is_found() -> None:
    late = _call(2500.0, timeoutS=1.0)  # 0.5 s left
    kept = _call(0.0, timeoutS=1.0, host="other.example.com")
    (found,) = _only(_facts([late, kept], deadline_us=DEADLINE), "no-timeout")
    assert found["callIds"] == [late.id] and found["timeoutS"] == 1.0


def test_no_timeout_says_nothing_when_the_timeout_is_not_recorded() -> None:
    assert _only(_facts([_call(0.0)], deadline_us=DEADLINE), "no-timeout") == []
    assert _only(_facts([_call(0.0, timeoutS=10.0)]), "no-timeout") == []  # no deadline known


# ----------------------------------------------------------------------------- new-connection

def test_a_new_connection_to_a_host_an_earlier_invocation_used_is_found() -> None:
    findings = Findings()
    findings.detect(_facts([_call(0.0, connection="new")]))
    again = _call(0.0, connection="new", connectMs=12.5, tlsMs=20.0)
    (found,) = _only(_facts([again]), "new-connection", findings)
    assert found["host"] == "api.example.com" and found["connectMs"] == 32.5


def test_reused_or_first_connections_are_not_found() -> None:
    findings = Findings()
    assert _only(_facts([_call(0.0, connection="new")]), "new-connection", findings) == []
    assert _only(_facts([_call(0.0, connection="reused")]), "new-connection", findings) == []
    assert _only(_facts([_call(0.0)]), "new-connection", findings) == []  # not recorded


def test_every_sequential_call_opening_its_own_connection_is_listed() -> None:
    findings = Findings()
    findings.detect(_facts([_call(0.0, connection="new")]))
    calls = [_call(n * 20.0, connection="new", path=f"/{n}") for n in range(3)]
    (found,) = _only(_facts(calls), "new-connection", findings)
    assert found["count"] == 3 and found["callIds"] == [call.id for call in calls]


def test_later_calls_reusing_the_first_calls_new_connection_do_not_hide_it() -> None:
    findings = Findings()
    findings.detect(_facts([_call(0.0, connection="new")]))
    calls = [_call(0.0, 50.0, connection="new"), _call(60.0, 50.0, connection="reused"),
             _call(120.0, 50.0, connection="reused")]
    (found,) = _only(_facts(calls), "new-connection", findings)
    assert found["count"] == 1 and found["callIds"] == [calls[0].id]


def test_more_connections_for_concurrent_calls_are_not_found_when_one_was_reused() -> None:
    findings = Findings()
    findings.detect(_facts([_call(0.0, connection="new")]))
    calls = [_call(0.0, 50.0, connection="new"), _call(1.0, 50.0, connection="reused"),
             _call(2.0, 50.0, connection="new")]
    assert _only(_facts(calls), "new-connection", findings) == []


def test_another_port_or_aws_service_is_another_pool() -> None:
    findings = Findings()
    findings.detect(_facts([_call(0.0, connection="new", **_aws("s3", "ListBuckets")),
                            _call(10.0, connection="new", port=8443)]))
    dynamodb = _aws("dynamodb", "GetItem", "orders", host="s3.eu-west-1.amazonaws.com")
    later = [_call(0.0, connection="new", **dynamodb), _call(10.0, connection="new")]
    assert _only(_facts(later), "new-connection", findings) == []


# ---------------------------------------------------------------------------------- slow-call

def _warmed(duration_ms: float = 50.0) -> Findings:
    findings = Findings()
    for _ in range(MIN_SAMPLES):
        findings.detect(_facts([_call(0.0, duration_ms)]))
    return findings


def test_a_call_far_above_its_endpoints_usual_time_is_slow() -> None:
    findings = _warmed()
    slow = _call(0.0, 400.0)
    (found,) = _only(_facts([slow]), "slow-call", findings)
    assert (found["durationMs"], found["baselineMs"], found["callIds"]) == (400.0, 50.0,
                                                                             [slow.id])


def test_slow_needs_a_history_and_the_absolute_floor() -> None:
    assert _only(_facts([_call(0.0, 400.0)]), "slow-call") == []  # nothing seen before
    assert _only(_facts([_call(0.0, 90.0)]), "slow-call", _warmed(10.0)) == []  # under 100 ms
    assert _only(_facts([_call(0.0, 140.0)]), "slow-call", _warmed()) == []  # under 3x p90


def test_history_keeps_each_endpoints_last_durations_in_start_order() -> None:
    findings = Findings()
    calls = [_call(float(n), float(n), path=("/even", "/odd")[n % 2]) for n in range(1, 301)]
    calls.append(_call(400.0, 9_999.0, in_flight=True, path="/even"))  # cut short: no duration
    findings.detect(_facts(calls))
    odd, even = (findings.history.durations[f"GET api.example.com/{name}"].samples
                 for name in ("odd", "even"))
    assert list(odd) == [float(n) for n in range(101, 301, 2)]
    assert list(even) == [float(n) for n in range(102, 301, 2)]


def test_history_is_bounded() -> None:
    history = History()
    history.remember({f"GET h/{n}": [1.0] for n in range(1000)}, {f"h{n}" for n in range(1000)})
    assert len(history.durations) == 256 and len(history.pools) == 256
    history.remember({"GET h/x": [float(n) for n in range(500)]}, set())
    assert list(history.durations["GET h/x"].samples) == [float(n) for n in range(400, 500)]


# ------------------------------------------------------------------------------ large-payload

def test_a_large_response_is_found_per_endpoint_and_direction() -> None:
    calls = [_call(0.0, bytesReceived=2 << 20), _call(10.0, bytesSent=3 << 20, method="PUT"),
             _call(20.0, bytesReceived=100)]
    found = _only(_facts(calls), "large-payload")
    assert [(f["direction"], f["bytes"]) for f in found] == [("response", 2 << 20),
                                                              ("request", 3 << 20)]


def test_a_large_body_one_way_is_found_whatever_the_other_way_carries() -> None:
    for fields, direction in (({"bytesReceived": 2 << 20}, "response"),
                              ({"bytesSent": 2 << 20, "method": "PUT"}, "request")):
        (found,) = _only(_facts([_call(0.0, **fields), _call(10.0)]), "large-payload")
        assert found["direction"] == direction


def test_payload_threshold_is_a_knob() -> None:
    calls = [_call(0.0, bytesReceived=2 << 20)]
    assert _only(_facts(calls), "large-payload", Findings(limits=Thresholds(
        large_bytes=4 << 20))) == []


# ----------------------------------------------------------------------------- after-response

def test_calls_running_after_the_response_are_found() -> None:
    running = _call(80.0, 20.0, in_flight=True)
    ended_late = _call(50.0, 100.0, path="/late")
    (found,) = _only(_facts([_call(0.0), running, ended_late], duration_ms=100.0),
                     "after-response")
    assert found["count"] == 2 and found["running"] == 1
    assert set(found["callIds"]) == {running.id, ended_late.id}


def test_a_call_running_at_the_response_is_found_however_soon_it_was_cut() -> None:
    running = _call(80.0, 20.0, in_flight=True)  # (cut at the end: it ends in time)
    (found,) = _only(_facts([_call(0.0), running], duration_ms=100.0), "after-response")
    assert found["callIds"] == [running.id] and found["running"] == 1


def test_a_timed_out_invocation_has_no_after_response_finding() -> None:
    running = _call(80.0, 20.0, in_flight=True)
    assert _only(_facts([running], duration_ms=100.0, status="timeout"),
                 "after-response") == []
    assert _only(_facts([_call(0.0, 100.0)], duration_ms=100.0), "after-response") == []


# --------------------------------------------------------------------------------- http-bound

def test_an_invocation_waiting_on_http_is_http_bound() -> None:
    (found,) = _only(_facts([_call(0.0, 900.0)], http_share=0.9), "http-bound")
    assert found["callIds"] == [] and found["httpShare"] == 0.9


def test_short_or_busy_invocations_are_not_http_bound() -> None:
    assert _only(_facts([_call(0.0, 50.0)], duration_ms=60.0, http_share=0.9),
                 "http-bound") == []
    assert _only(_facts([_call(0.0, 500.0)], http_share=0.5), "http-bound") == []


# ---------------------------------------------------------------------------------- registry

def test_the_registry_runs_every_documented_kind() -> None:
    assert tuple(kind for kind, _ in DETECTORS) == FINDING_KINDS


def test_kinds_switched_off_are_not_run() -> None:
    findings = Findings.from_settings(Settings.from_environ(
        {"HTTPRECAP_FINDINGS_OFF": "identical-call"}))
    assert findings is not None
    assert "identical-call" not in _kinds(_facts([_call(0.0), _call(20.0)]), findings)
    assert Findings.from_settings(Settings.from_environ({"HTTPRECAP_FINDINGS": "0"})) is None


def test_thresholds_come_from_the_settings() -> None:
    findings = Findings.from_settings(Settings.from_environ(
        {"HTTPRECAP_FINDINGS_REPEATED_MIN": "3", "HTTPRECAP_FINDINGS_HTTP_SHARE": "0.25"}))
    assert findings is not None
    assert (findings.limits.repeated_min, findings.limits.http_share) == (3, 0.25)


def test_a_detector_that_raises_is_skipped(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: Any) -> list[dict[str, Any]]:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(registry, "DETECTORS", (("repeated-call", broken),
                                                *registry.DETECTORS[1:]))
    monkeypatch.setattr(registry.log, "_state", {"threshold": 10})  # debug
    found, counts = Findings().detect(_facts([_call(0.0), _call(20.0)]))
    assert counts == {"identical-call": 1} and found[0]["kind"] == "identical-call"
    assert "finding repeated-call skipped: RuntimeError: detector bug" in capsys.readouterr().err


def test_a_finding_names_at_most_a_hundred_calls_and_is_json() -> None:
    calls = [_item(n, n * 1.0, 0.5) for n in range(MAX_CALL_IDS + 50)]
    found, counts = Findings().detect(_facts(calls))
    repeated = next(f for f in found if f["kind"] == "repeated-call")
    assert len(repeated["callIds"]) == MAX_CALL_IDS and repeated["count"] == MAX_CALL_IDS + 50
    assert json.loads(json.dumps(found)) == found and counts["repeated-call"] == 1


# -------------------------------------------------------------------------------- in the recap

def _recap(calls: list[dict[str, Any]], findings: Findings | None) -> Any:
    from httprecap.external.aggregate.invocation_state import Invocation
    from httprecap.external.aggregate.recap import Context, Outcome, build_recap

    inv = Invocation("r1", "invoke", 0.0)
    for item in calls:
        inv.add_call(EncodedCall(item), cap=100)
    context = Context("orders-api", "$LATEST", {}, 0.4, findings=findings)
    return build_recap(inv, Outcome("success", T0, 1000.0), context)


def _gets(count: int) -> list[dict[str, Any]]:
    return [call("r1", f"g-{n}", n * 10.0, 5.0, method="POST",
                 aws={"service": "dynamodb", "operation": "GetItem", "region": "eu-west-1",
                      "resource": "orders"}) for n in range(count)]


def test_the_recap_lists_its_findings_and_counts_them_by_kind() -> None:
    recap = _recap([*_gets(5), call("r1", "x", 100.0), call("r1", "y", 120.0)], Findings())
    assert [f["kind"] for f in recap["findings"]] == ["repeated-call", "identical-call"]
    assert recap["summary"]["findings"] == {"identical-call": 1, "repeated-call": 1}
    line = json.loads(recap.line())
    assert line["findings"] == recap["findings"]
    assert line["findings"][0]["callIds"] == [f"g-{n}" for n in range(5)]
    assert list(line)[-3:] == ["overhead", "findings", "calls"]  # the unbounded lists last


def test_no_finding_is_an_empty_list_and_findings_off_no_field() -> None:
    recap = _recap([call("r1", "x")], Findings())
    assert recap["findings"] == [] and recap["summary"]["findings"] == {}
    recap = _recap([call("r1", "x")], None)
    assert "findings" not in recap and "findings" not in recap["summary"]


def test_findings_that_fail_whole_still_ship_the_recap(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Findings, facts: Facts) -> None:
        raise MemoryError

    monkeypatch.setattr(Findings, "detect", broken)
    recap = _recap(_gets(5), Findings())
    assert recap["summary"]["count"] == 5 and len(recap["calls"]) == 5
    assert recap["findings"] == [] and recap["summary"]["findings"] == {}
    json.loads(recap.line())


def test_a_kind_lists_at_most_ten_findings_those_about_most_calls() -> None:
    calls = [_call(n * 10.0 + k, 1.0, path=f"/config/{chr(97 + n)}",
                   url=f"https://api.example.com/config/{chr(97 + n)}")
             for n in range(12) for k in range(2 + (n == 11))]
    found, counts = Findings().detect(_facts(calls))
    identical = [f for f in found if f["kind"] == "identical-call"]
    assert counts["identical-call"] == 12 and len(identical) == registry.MAX_PER_KIND
    assert identical[0]["count"] == 3 and identical[0]["url"].endswith("/config/l")
