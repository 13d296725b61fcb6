"""Wire contract: request ids, and the init phase's two forms (classic and per worker)."""

from __future__ import annotations

from typing import Any

import pytest

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
