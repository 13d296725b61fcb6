"""HTTPRECAP_KEEP=notable: a quiet invocation ships compact (no calls, `compact: true`), a
notable one (error, failed call, finding, slow) in full; `all` changes nothing."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from ext_support import T0, call

from httprecap.external.aggregate.encode import EncodedRecap
from httprecap.external.aggregate.encoded_call import EncodedCall
from httprecap.external.aggregate.invocation_state import Invocation
from httprecap.external.aggregate.recap import Context, Outcome, build_recap
from httprecap.external.ship.keep import keep_policy, notable
from httprecap.external.ship.shipper import Shipper
from httprecap.external.ship.stdout import StdoutSink

SLOW_MS = 1000.0


def _recap(*calls: dict[str, Any], status: str = "success",
           duration_ms: float = 100.0) -> EncodedRecap:
    inv = Invocation("r1", "invoke", 0.0)
    for item in calls:
        inv.add_call(EncodedCall(item), cap=100)
    inv.set_end({"k": "end", "requestId": "r1", "status": status, "calls": len(calls),
                 "startedAtUs": T0, "durationMs": duration_ms, "dropped": {}, "overheadUs": 9},
                0.0)
    return build_recap(inv, Outcome(status, T0, duration_ms), Context("f", "$LATEST", {}, 0.1))


def _quiet() -> EncodedRecap:
    return _recap(call("r1", "a"), call("r1", "b", offset_ms=20))


def _kept(recap: EncodedRecap) -> dict[str, Any]:
    keep = keep_policy("notable", SLOW_MS)
    assert keep is not None
    line: dict[str, Any] = json.loads(keep(recap).line())
    return line


def test_a_quiet_invocation_ships_its_summary_without_calls_marked_compact() -> None:
    recap = _quiet()
    kept = _kept(recap)
    assert kept["calls"] == [] and kept["compact"] is True
    assert kept["summary"] == recap["summary"] and kept["summary"]["count"] == 2
    assert {**kept, "calls": None, "compact": None} == \
        {**json.loads(recap.line()), "calls": None, "compact": None}


@pytest.mark.parametrize("recap", [
    pytest.param(_recap(call("r1", "a"), status="error"), id="the handler raised"),
    pytest.param(_recap(call("r1", "a"), status="timeout"), id="timed out"),
    pytest.param(_recap(call("r1", "a", status=500)), id="a call failed with 500"),
    pytest.param(_recap(call("r1", "a", status=None,
                             error={"type": "ConnectionError", "message": "refused"})),
                 id="a call raised"),
    pytest.param(_recap(call("r1", "a"), duration_ms=SLOW_MS + 0.1), id="slower than the knob"),
])
def test_a_notable_invocation_ships_every_call(recap: EncodedRecap) -> None:
    kept = _kept(recap)
    assert len(kept["calls"]) == 1 and "compact" not in kept


def test_an_invocation_with_a_finding_ships_every_call() -> None:
    recap = _quiet()
    recap.fields["findings"] = [{"kind": "identical-call", "severity": "info",
                                 "message": "the same GET twice", "callIds": ["a", "b"]}]
    recap.fields["summary"] = {**recap.fields["summary"], "findings": {"identical-call": 1}}
    assert len(_kept(recap)["calls"]) == 2


def test_no_finding_is_not_notable() -> None:
    recap = _quiet()
    recap.fields["findings"] = []
    recap.fields["summary"] = {**recap.fields["summary"], "findings": {}}
    assert not notable(recap, SLOW_MS)


def test_a_duration_at_the_knob_is_not_slow() -> None:
    assert not notable(_recap(call("r1", "a"), duration_ms=SLOW_MS), SLOW_MS)


def test_a_recap_without_calls_is_not_marked_compact() -> None:
    assert "compact" not in _kept(_recap())


def test_keep_all_is_no_policy() -> None:
    assert keep_policy("all", SLOW_MS) is None


def _shipped(keep: Any, recap: EncodedRecap) -> dict[str, Any]:
    stream = io.BytesIO()
    shipper = Shipper([StdoutSink(stream)], queue_limit=10, keep=keep)
    try:
        shipper.ship([recap], 1.0)
    finally:
        shipper.stop()
    line: dict[str, Any] = json.loads(stream.getvalue())
    return line


def test_the_shipper_hands_sinks_the_compact_recap() -> None:
    shipped = _shipped(keep_policy("notable", SLOW_MS), _quiet())
    assert shipped["compact"] is True and shipped["calls"] == []


def test_a_keep_policy_that_raises_ships_the_recap_in_full() -> None:
    def broken(recap: EncodedRecap) -> EncodedRecap:
        raise RuntimeError("broken")

    shipped = _shipped(broken, _quiet())
    assert len(shipped["calls"]) == 2 and "compact" not in shipped


def test_the_savings_script_measures_a_sample_with_the_ship_stage_policy(
        tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    quiet, failed = _quiet(), _recap(call("r1", "a", status=500))
    sample = tmp_path / "recaps.jsonl"
    sample.write_text(f"{quiet.line()}\n{failed.line()}\n")
    script = Path(__file__).resolve().parents[2] / "scripts" / "keep_savings.py"
    out = subprocess.run([sys.executable, str(script), str(sample)], capture_output=True,
                         text=True, check=True).stdout
    compact = len(json.dumps(_kept(quiet), separators=(",", ":"), ensure_ascii=False))
    full = len(quiet.line()) + len(failed.line())
    assert f"2 recaps, 1 compact: {full:,} bytes with all, {compact + len(failed.line()):,} " \
        "with notable" in out


def test_the_emf_sink_still_measures_every_call_of_a_compacted_recap() -> None:
    from httprecap.external.ship.emf import EmfSink

    stream = io.BytesIO()
    shipper = Shipper([EmfSink(stream)], queue_limit=10, keep=keep_policy("notable", SLOW_MS))
    try:
        shipper.ship([_quiet()], 1.0)
    finally:
        shipper.stop()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["Latency"] for line in lines if "Latency" in line] == [[10.0, 10.0]]
