"""Wire contract: request ids, and the init phase's two forms (classic and per worker)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httprecap import wire


def _call(request_id: Any) -> dict[str, Any]:
    return {"id": "1", "requestId": request_id, "startedAtUs": 1, "method": "GET",
            "host": "example.com", "url": "https://example.com/"}


def _end(request_id: Any) -> dict[str, Any]:
    return {"k": "end", "requestId": request_id, "status": "success", "calls": 0}


def test_a_workers_init_id_names_its_pid() -> None:
    assert wire.init_request_id(4242) == "init:4242"
    assert wire.is_init_request_id(wire.init_request_id(4242))
    assert wire.is_init_request_id(wire.INIT_REQUEST_ID)
    assert not wire.is_init_request_id("c94020d1-9001-4995-b5a7-dc0a977d4372")


@pytest.mark.parametrize("request_id", ["init", "init:1", "init:4194304", "init:1234567890",
                                        "c94020d1-9001-4995-b5a7-dc0a977d4372"])
def test_valid_request_ids_pass_in_calls_and_ends(request_id: str) -> None:
    batch = {"v": wire.VERSION, "messages": [{"k": "call", "call": _call(request_id)},
                                             _end(request_id)]}
    assert len(wire.validate_batch(batch)) == 2


@pytest.mark.parametrize("request_id", ["init:", "init:abc", "init:12345678901", "init:1x",
                                        "init:-1", "init: 1", "init:\u0661\u0662",
                                        "init:" + "9" * wire.MAX_STRING])
@pytest.mark.parametrize("message", [lambda rid: {"k": "call", "call": _call(rid)},
                                     lambda rid: {"k": "start", "call": _call(rid)}, _end])
def test_a_malformed_init_id_is_refused(request_id: str, message: Any) -> None:
    with pytest.raises(wire.WireError, match="malformed init requestId"):
        wire.validate_batch({"v": wire.VERSION, "messages": [message(request_id)]})


def test_a_request_id_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(wire.WireError, match="requestId"):
        wire.validate_message({"k": "call", "call": _call(7)})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=3) | st.sampled_from(["x" * wire.MAX_STRING, "x" * (wire.MAX_STRING + 1)]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3),
                                                                      children, max_size=4),
    max_leaves=30)


@given(value=_json)
@settings(max_examples=400, deadline=None)
def test_the_quick_bounds_check_agrees_with_the_one_that_explains(value: Any) -> None:
    # The collector runs the quick check on every call; the explaining walk only on failure.
    try:
        wire._explain(value, "v")
        explained_ok = True
    except wire.WireError:
        explained_ok = False
    assert wire._bounded(value, 0) == explained_ok


@pytest.mark.parametrize(("field", "value"), [("port", True), ("status", False), ("port", 1.5),
                                              ("host", 7), ("attempts", {}), ("error", "x")])
def test_a_call_field_of_the_wrong_type_is_refused(field: str, value: Any) -> None:
    call = {**_call("r-1"), field: value}
    with pytest.raises(wire.WireError, match=f"call.{field}: wrong type"):
        wire.validate_call(call)


def test_a_string_past_the_bound_is_refused_and_named() -> None:
    call = {**_call("r-1"), "error": {"type": "E", "message": "x" * (wire.MAX_STRING + 1)}}
    with pytest.raises(wire.WireError, match=r"call\.error\.message: string longer"):
        wire.validate_call(call)
