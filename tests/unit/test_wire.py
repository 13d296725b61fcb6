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


def test_sorting_keeps_the_valid_messages_and_names_each_bad_ones_invocation() -> None:
    batch = {"v": wire.VERSION, "messages": [
        {"k": "call", "call": _call("r-1")}, {"k": "call", "call": {**_call("r-1"), "port": "x"}},
        {"k": "start", "call": {**_call("r-2"), "port": "x"}}, {**_end("r-1"), "status": 1},
        {"k": "hello"}, "not an object"]}
    result = wire.sort_batch(batch)
    assert result.messages == [batch["messages"][0]]
    assert [(rid, reason) for rid, reason, _ in result.drops] == [
        ("r-1", wire.INVALID_CALL), ("r-1", wire.INVALID_END), (None, wire.INVALID_MESSAGE),
        (None, wire.INVALID_MESSAGE)]
    assert result.unusable_starts == [("r-2", "1")]


def test_an_end_keeps_its_required_fields_and_loses_only_the_bad_others() -> None:
    end = {**_end("r-1"), "durationMs": "5", "dropped": {"bufferFull": 2}, "overheadUs": True}
    assert wire.check_end(end) == ["durationMs", "overheadUs"]
    assert end == {**_end("r-1"), "dropped": {"bufferFull": 2}}


def test_an_end_may_name_the_tenant_of_a_tenant_isolated_function() -> None:
    end = {**_end("r-1"), "tenantId": "tenant-a"}
    assert wire.check_end(end) == []
    assert end["tenantId"] == "tenant-a"
    assert wire.check_end({**_end("r-1"), "tenantId": ["tenant-a"]}) == ["tenantId"]


@given(text=st.text())
def test_valid_text_is_the_identity_on_valid_unicode(text: str) -> None:
    assert wire.valid_text(text) is text


@given(text=st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
                    | st.characters(max_codepoint=0x10FFFF)))
def test_valid_text_always_encodes_and_keeps_every_other_character(text: str) -> None:
    valid = wire.valid_text(text)
    valid.encode("utf-8")
    assert len(valid) == len(text)
    assert all(new in (old, "\ufffd") for new, old in zip(valid, text, strict=True))
