"""The benchmark suite's plumbing (fast; no sandbox, no timing): statistics, the loopback
servers, the OpenTelemetry peer layer, profile folding, targets, the report and --check."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

from bench import otel_layer, profiles, report
from bench.servers import Servers
from bench.stats import Summary, differences, ratios, rotated
from bench.targets import check_bounds, evaluate


def test_summary_is_median_with_min_and_max() -> None:
    summary = Summary.of([3.0, 1.0, 2.0, 10.0])
    assert (summary.median, summary.low, summary.high, summary.count) == (2.5, 1.0, 10.0, 4)
    assert summary.text(1, "x") == "2.5x (1.0..10.0)"
    assert Summary.of([]).text() == "n/a"


def test_ratios_and_differences_are_made_round_by_round() -> None:
    assert ratios([2.0, 6.0, 4.0], [1.0, 3.0, 4.0]).median == 2.0
    assert differences([2.0, 6.0, 4.0], [1.0, 3.0, 4.0]).to_json()["max"] == 3.0


def test_rotation_gives_every_configuration_the_first_place_in_turn() -> None:
    names = ["a", "b", "c"]
    assert [rotated(names, number)[0] for number in range(3)] == ["a", "b", "c"]


def test_servers_answer_on_loopback_and_count_what_they_received() -> None:
    with Servers() as servers:
        with urllib.request.urlopen(servers.url("upstream", "/items")) as reply:
            assert reply.status == 200 and b"items" in reply.read()
        request = urllib.request.Request(servers.url("otlp", "/v1/traces"), data=b"spans")
        with urllib.request.urlopen(request) as reply:
            assert reply.status == 200
        counts = servers.counts()
    assert counts["requests"]["upstream"] == 1
    assert counts["bytes"]["otlp"] == len(b"spans")


def test_otel_layer_has_an_executable_wrapper_and_the_handler_shim(tmp_path: Path) -> None:
    layer = otel_layer.build(tmp_path / "otel")
    wrapper = layer / "otel-instrument"
    assert os.access(wrapper, os.X_OK)
    assert "opentelemetry-instrument" in wrapper.read_text()
    assert "AwsLambdaInstrumentor().instrument()" in (layer / "python/otel_shim.py").read_text()
    assert otel_layer.env(4318)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"


def test_profile_folding_gives_inclusive_and_self_shares_and_marks_httprecap() -> None:
    raw = ("<module> (/x/boot.py:1);run (/opt/httprecap/lib/httprecap/internal/capture/call.py:9)"
           ";send (/venv/site-packages/requests/sessions.py:5) 3\n"
           "<module> (/x/boot.py:1);other (/venv/site-packages/lib/thing.py:2) 1\n")
    folded = profiles.fold(raw)
    assert folded.startswith("4 samples")
    assert "httprecap's own functions (self time): 0.0 %" in folded
    assert " 75.0 % incl.   0.0 % self  * run (internal/capture/call.py)" in folded
    assert "<module>" not in folded  # in every sample: an entry frame


def _results(per_call_us: float, cold_ratio: float) -> dict[str, Any]:
    """Results of a made-up run, shaped as bench/__main__.py makes them."""
    rounds = 4
    metrics = ("duration", "latency", "extension", "body", "outside")
    warm = {name: {f"{metric}_{calls}": [100.0 + calls] * rounds
                   for metric in metrics for calls in (0, 10, 100)}
            for name in ("none", "httprecap")}
    for figures in warm.values():
        figures.update({"runtime_peak_mib": [40.0], "runtime_current_mib": [40.0]})
    warm["httprecap"].update({"extension_peak_mib": [13.0], "extension_current_mib": [12.0]})
    micro = {client: {"none": {"cpu": [0.0] * rounds, "wall": [0.0] * rounds,
                               "base_wall": [400.0] * rounds, "block_cpu": [300.0] * rounds},
                      "httprecap": {"cpu": [per_call_us] * rounds, "wall": [per_call_us] * rounds,
                                    "base_wall": [400.0] * rounds,
                                    "block_cpu": [300.0 + per_call_us] * rounds}}
             for client in ("requests", "urllib3", "boto3")}
    cold = {"none": {"init_ms": [300.0] * rounds, "first_response_ms": [301.0] * rounds,
                     "runtime_peak_mib": [40.0] * rounds, "extension_peak_mib": [0.0] * rounds},
            "httprecap": {"init_ms": [300.0 * cold_ratio] * rounds,
                          "first_response_ms": [301.0] * rounds,
                          "runtime_peak_mib": [41.0] * rounds,
                          "extension_peak_mib": [12.0] * rounds}}
    return {"quick": True, "pinned": True, "load": "0.00 0.00 0.00", "finished": 0.0,
            "elapsed_s": 60.0, "setups": ["none", "httprecap"], "skipped": {},
            "params": {"warm": {"rounds": rounds}, "coldstart": {"rounds": rounds},
                       "micro": {"rounds": rounds, "block": 10}},
            "machine": {"cpu": "test CPU", "cores": 2, "memory_gib": 1.0, "os": "Linux",
                        "python": "3.11", "packages": {"requests": "2"}},
            "warm": warm, "micro": micro, "coldstart": cold}


def test_targets_are_read_against_the_results() -> None:
    verdicts = {target.what: target.met for target in evaluate(_results(5.0, 1.05))}
    assert verdicts["per-call overhead, urllib3"] is True
    assert verdicts["cold start (init duration), httprecap / no layer"] is True
    missed = {target.what: target for target in evaluate(_results(20.0, 1.3))}
    assert missed["per-call overhead, requests"].met is False
    assert "missed by 5.00 µs" in missed["per-call overhead, requests"].note


def test_post_runtime_targets_show_the_time_after_the_response_beside_it() -> None:
    from bench import extension_time

    results = _results(5.0, 1.05)
    results["extension"] = {
        "extension_ms": {0: [0.5] * 4, 100: [1.5, 1.6, 2.6, 2.7], 1000: [12.0] * 4},
        "after_response_ms": {0: [0.8] * 4, 100: [3.0, 3.1, 3.1, 3.2], 1000: [13.0] * 4}}
    targets = {target.what: target for target in evaluate(results)}
    hundred = targets["post-runtime extension time, 100 calls (stdout)"]
    assert (hundred.met, hundred.measured) == (False, "2.10 ms (with the runtime's overhead: "
                                                      "3.10 ms)")
    assert not targets["post-runtime extension time, 1,000 calls (stdout)"].met
    table = extension_time.table(results["extension"])
    assert "| 100 | 2.10 (1.50..2.70) | 3.10 (3.00..3.20) |" in table
    del results["extension"]["after_response_ms"]  # results saved before the column existed
    assert [target.measured for target in evaluate(results)
            if target.what.endswith("100 calls (stdout)")] == ["2.10 ms"]


def test_check_fails_only_past_the_generous_bounds() -> None:
    assert check_bounds(_results(20.0, 1.3)) == []  # targets missed, bounds kept
    breaches = check_bounds(_results(60.0, 1.6))
    assert any("per-call requests" in breach for breach in breaches)
    assert any("cold start" in breach for breach in breaches)


def test_report_has_the_machine_the_command_the_tables_and_the_reading() -> None:
    text = report.render(_results(20.0, 1.3))
    for part in ("# Benchmarks", "## Machine", "test CPU", report.FULL_COMMAND,
                 report.QUICK_COMMAND, "## Targets", "**missed**", "## Reading", "## Cold start",
                 "## Warm invocations", "## Per-call overhead"):
        assert part in text


def test_missing_peers_are_named_not_raised() -> None:
    # find_spec raises when a parent package is missing (opentelemetry without its
    # instrumentation): the suite then skips the peer and says why.
    from bench.__main__ import _importable

    assert _importable("json")
    assert not _importable("opentelemetry.instrumentation.no_such_instrumentation")
    assert not _importable("no_such_package.child")


def test_the_full_report_is_generated_output_not_a_doc() -> None:
    from bench.__main__ import DOC, QUICK_DOC, ROOT

    for generated in (DOC, QUICK_DOC):
        assert generated.is_relative_to(ROOT / "build")
    assert "generated" in report.render(_results(20.0, 1.3)).splitlines()[0]


def test_bytecodes_counts_the_capture_in_the_caller_and_the_sender() -> None:
    from bench import bytecodes

    with Servers() as servers:
        found = bytecodes.count("urllib3", 20, servers)
    # Every call runs the wrappers in the caller's thread and is encoded on the sender thread;
    # neither count includes the client's own code (a few thousand bytecodes per call).
    assert 100 < found["caller"] < 1000
    assert 50 < found["sender"] < 1000
    assert "| urllib3 | " in bytecodes.table({"urllib3": found})


def test_versus_times_both_versions_and_leaves_the_process_as_it_was(tmp_path: Path) -> None:
    import sys

    import urllib3.connectionpool

    import httprecap.internal.bootstrap as bootstrap_before
    from bench import versus

    found = versus.compare("HEAD", ["urllib3"], tmp_path, rounds=2, block=5)
    # Each version was laid out in its own tree, imported from it and timed in every round.
    assert (tmp_path / "other" / "httprecap" / "internal" / "bootstrap.py").is_file()
    assert (tmp_path / "this" / "httprecap" / "internal" / "bootstrap.py").is_file()
    for version in ("other", "this"):
        assert len(found["urllib3"][version]["cpu"]) == 2
        assert len(found["urllib3"][version]["caller"]) == 2
    assert "| urllib3 | " in versus.table("HEAD", found)
    # The test process has its own httprecap back (the same module objects), and urllib3
    # talks to the network again.
    assert sys.modules["httprecap.internal.bootstrap"] is bootstrap_before
    assert not any(str(tmp_path) in entry for entry in sys.path)
    assert urllib3.connectionpool.HTTPConnectionPool._make_request.__module__ == \
        "urllib3.connectionpool"
