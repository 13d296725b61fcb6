"""The extension's garbage collector: on after start-up, with start-up's objects frozen, and no
collection set off by the objects of a recap being built (they are not garbage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter, as the launcher starts the extension: collector off until
# `collect_garbage`, then 1,000 calls received, their recap built and dropped, three times.
SCRIPT = r"""
import gc, json, sys
gc.disable()
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests/external", sys.argv[1] + "/tests"]
from ext_support import clocked_aggregator, invoke
from call_support import wire_call
from httprecap.external.main import GC_THRESHOLD, collect_garbage
from httprecap.external.aggregate.encoded_call import EncodedCall

collect_garbage()
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info))
state = {"enabled": gc.isenabled(), "threshold": gc.get_threshold()[0] == GC_THRESHOLD,
         "frozen": gc.get_freeze_count() > 0}
aggregator, clock = clocked_aggregator(max_calls=10_000)
for round_ in range(3):
    request_id = f"00000000-0000-0000-0000-{round_:012d}"
    invoke(aggregator, request_id)
    inv = aggregator._get(request_id, clock())
    inv.add_calls([EncodedCall(wire_call(request_id, f"c{n}")) for n in range(1000)], 10_000)
    recaps = aggregator.take(request_id)
    assert recaps and len(recaps[0].pieces) == 1000
    del recaps, inv
state["collections"] = len(collections)
print(json.dumps(state))
"""


def test_a_recap_of_a_thousand_calls_sets_off_no_collection() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        '{"enabled": true, "threshold": true, "frozen": true, "collections": 0}')
