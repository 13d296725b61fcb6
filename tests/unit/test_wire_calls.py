"""Wire contract: the `calls` message, an invocation's finished calls as rows over shapes."""

from __future__ import annotations

from typing import Any

import pytest

from httprecap import wire

RID = "c94020d1-9001-4995-b5a7-dc0a977d4372"
SHAPE = {"method": "GET", "scheme": "https", "host": "api.example.com", "port": 443,
         "path": "/items", "url": "https://api.example.com/items", "library": "requests",
         "thread": "MainThread", "aws": None, "timeoutS": 3.0, "connection": "reused"}


def _row(call_id: str = "1-1", *more: Any) -> list[Any]:
    return [0, call_id, 1_790_000_000_000_000, 12.5, 200, 0, 20, *more]


def _calls(*rows: list[Any], shapes: list[Any] | None = None,
           request_id: Any = RID) -> dict[str, Any]:
    return {"k": "calls", "requestId": request_id,
            "shapes": [SHAPE] if shapes is None else shapes, "rows": list(rows)}


def _batch(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"v": wire.VERSION, "messages": list(messages)}


def _ids(sorted_batch: wire.Sorted) -> list[str]:
    """The ids of the calls a sorted batch keeps (rows without members stay rows)."""
    return [call["id"] for m in sorted_batch.messages
            for call in (m.calls() if isinstance(m, wire.Rows) else [m["call"]])]


def test_a_row_is_its_shape_its_values_and_the_messages_request_id() -> None:
    (call,) = wire.calls_of(_calls(_row("1-7")))
    assert call == {**SHAPE, "id": "1-7", "requestId": RID,
                    "startedAtUs": 1_790_000_000_000_000, "durationMs": 12.5, "status": 200,
                    "bytesSent": 0, "bytesReceived": 20, "error": None, "attempts": []}
    assert wire.validate_call(call) is call


def test_a_rows_members_add_to_its_shape_but_never_replace_its_values() -> None:
    error = {"type": "ReadTimeout", "message": "read timed out"}
    members = {"connection": "new", "connectMs": 1.5, "error": error, "status": 500,
               "requestId": "someone-else", "id": "forged"}
    (call,) = wire.calls_of(_calls(_row("1-8", members)))
    assert (call["connection"], call["connectMs"], call["error"]) == ("new", 1.5, error)
    assert (call["status"], call["requestId"], call["id"]) == (200, RID, "1-8")
    assert SHAPE["connection"] == "reused"  # the shape itself is left as it was


@pytest.mark.parametrize("row", [
    "not a list", [0, "1-1"], [*_row(), {}, "ninth"], _row("1-1", "members"),
    [1, *_row()[1:]], [-1, *_row()[1:]], [True, *_row()[1:]], [0, 7, *_row()[2:]],
    [*_row()[:2], "late", *_row()[3:]], [*_row()[:3], "slow", *_row()[4:]],
    [*_row()[:4], "200", *_row()[5:]], [*_row()[:5], False, 20], [*_row()[:6], 2.5],
    _row("1-1", {"thread": 7}), _row("x" * (wire.MAX_STRING + 1)),
    _row("1-1", {"note": "y" * (wire.MAX_STRING + 1)})])
def test_a_row_that_breaks_the_contract_costs_only_its_call(row: Any) -> None:
    sorted_batch = wire.sort_batch(_batch(_calls(_row("1-1"), row, _row("1-3"))))
    assert _ids(sorted_batch) == ["1-1", "1-3"]
    ((request_id, reason, _),) = sorted_batch.drops
    assert (request_id, reason) == (RID, wire.INVALID_CALL)
    with pytest.raises(wire.WireError):
        wire.validate_batch(_batch(_calls(row)))


def test_a_shape_that_breaks_the_contract_costs_only_the_rows_that_name_it() -> None:
    bad = {**SHAPE, "port": "443"}
    without_url = {key: value for key, value in SHAPE.items() if key != "url"}
    rows = [_row("1-1"), [1, *_row("1-2")[1:]], [2, *_row("1-3")[1:]], _row("1-4")]
    sorted_batch = wire.sort_batch(_batch(_calls(*rows, shapes=[SHAPE, bad, without_url])))
    assert _ids(sorted_batch) == ["1-1", "1-4"]
    assert [drop[:2] for drop in sorted_batch.drops] == [(RID, wire.INVALID_CALL)] * 2


@pytest.mark.parametrize("message", [
    _calls(_row(), _row(), request_id=7), _calls(_row(), _row(), request_id="init:x"),
    _calls(_row(), _row(), shapes="not a list"),
    {"k": "calls", "requestId": RID, "shapes": [SHAPE], "rows": "not a list"}])
def test_a_calls_message_that_breaks_the_contract_counts_each_call_it_carried(
        message: dict[str, Any]) -> None:
    sorted_batch = wire.sort_batch(_batch(message, {"k": "end", "requestId": RID,
                                                    "status": "success", "calls": 2}))
    assert [m["k"] for m in sorted_batch.messages if isinstance(m, dict)] == ["end"]
    assert len(sorted_batch.messages) == 1
    rows = message["rows"]
    assert [drop[1] for drop in sorted_batch.drops] == \
        [wire.INVALID_CALL] * (len(rows) if isinstance(rows, list) else 1)


def test_a_batch_of_more_rows_and_messages_than_the_bound_is_refused_whole() -> None:
    rows = [_row(f"1-{n}") for n in range(wire.MAX_MESSAGES)]
    with pytest.raises(wire.WireError, match="more than"):
        wire.sort_batch(_batch(_calls(*rows)))
    assert len(_ids(wire.sort_batch(_batch(_calls(*rows[:-1]))))) == wire.MAX_MESSAGES - 1


def test_sorting_keeps_plain_rows_as_rows_and_one_with_members_as_its_call_in_its_place() -> None:
    sorted_batch = wire.sort_batch(_batch(_calls(
        _row("1-1"), _row("1-2"), _row("1-3", {"tlsMs": 2.0}), _row("1-4"))))
    first, message, last = sorted_batch.messages
    assert isinstance(first, wire.Rows) and isinstance(last, wire.Rows)
    assert [row[1] for row in first.rows] == ["1-1", "1-2"] and last.request_id == RID
    assert first.calls() == wire.calls_of(_calls(_row("1-1"), _row("1-2")))
    assert isinstance(message, dict) and message["call"]["tlsMs"] == 2.0
