"""Diagnostics: with HTTPRECAP_LOG_LEVEL=debug every failure httprecap swallows is logged once
per place, redacted, on stderr, while the user's call goes on unchanged; at any other level
nothing is printed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests

from httprecap.internal import bootstrap, diagnostics, hooks, invocation, patching
from httprecap.internal.capture import urllib3 as urllib3_capture

if TYPE_CHECKING:
    from conftest import Capture

SECRET_MESSAGE = "cannot size https://api.example.com/x?token=abc123 (Authorization: Bearer xyz)"


@pytest.fixture(autouse=True)
def _quiet_afterwards() -> Iterator[None]:
    yield
    diagnostics.configure("warning")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


def _boom(*args: object, **kwargs: object) -> bool:
    raise RuntimeError(SECRET_MESSAGE)


def _get_twice(server: str) -> list[requests.Response]:
    return [requests.get(f"{server}/ok", timeout=5) for _ in range(2)]


def test_a_broken_capture_logs_its_place_once_and_the_calls_succeed(
        capture: Capture, server: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    capture.start(log_level="debug")
    monkeypatch.setattr(urllib3_capture, "note_response", _boom)
    responses = _get_twice(server)
    assert [(r.status_code, r.text) for r in responses] == [(200, "hello world")] * 2
    (line,) = _lines(capsys)
    assert line.startswith("httprecap: debug: capture.call.close failed open: RuntimeError: ")
    assert line.endswith("(raised in _boom)")
    assert "abc123" not in line and "xyz" not in line


def test_a_broken_capture_prints_nothing_at_the_default_level(
        installed: Capture, server: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib3_capture, "note_response", _boom)
    responses = _get_twice(server)
    assert [(r.status_code, r.text) for r in responses] == [(200, "hello world")] * 2
    assert _lines(capsys) == []


def test_a_call_the_sender_cannot_encode_is_logged_and_counted(
        capture: Capture, server: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    capture.start(log_level="debug")
    sender = bootstrap.sender()
    assert sender is not None
    monkeypatch.setattr(sender.encoder(), "add_call", _boom)
    invocation.begin("req-1")
    assert [r.status_code for r in _get_twice(server)] == [200, 200]
    invocation.end("success")
    assert capture.calls() == []
    (end,) = capture.collector.of_kind("end")
    assert end["dropped"] == {"encoding": 2}
    (line,) = _lines(capsys)
    assert line.startswith("httprecap: debug: transport.sender.encode failed open: RuntimeError")


def test_a_failing_patch_is_logged_with_the_module_it_patches(
        capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug")
    hooks.when_imported("json", _boom)  # imported already: patched (and failing) at once
    (line,) = _lines(capsys)
    assert line.startswith("httprecap: debug: hooks.run_safely:json failed open: RuntimeError")


def test_a_place_is_logged_once_and_its_message_redacted(
        capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug")
    for _ in range(3):
        diagnostics.swallowed("capture.example.first", RuntimeError(SECRET_MESSAGE))
    diagnostics.swallowed("capture.example.second", KeyError("status"))
    first, second = _lines(capsys)
    assert first == ("httprecap: debug: capture.example.first failed open: RuntimeError: "
                     "cannot size https://api.example.com/x?token=REDACTED "
                     "(Authorization: REDACTED")
    assert second == "httprecap: debug: capture.example.second failed open: KeyError: 'status'"


def test_the_users_redaction_patterns_apply(capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug", ("^customer",))
    diagnostics.swallowed("capture.example", ValueError("bad customer_ref=4242 in body"))
    (line,) = _lines(capsys)
    assert "4242" not in line and "customer_ref=REDACTED" in line


def test_a_message_on_many_lines_is_logged_on_one(capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug")
    diagnostics.swallowed("capture.example", ValueError("first\nsecond\r\n  third"))
    assert _lines(capsys) == ["httprecap: debug: capture.example failed open: ValueError: "
                              "first second third"]


@pytest.mark.parametrize("level", ["info", "warning", "error"])
def test_nothing_is_logged_below_debug(level: str, capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure(level)
    diagnostics.swallowed("capture.example", RuntimeError("boom"))
    assert _lines(capsys) == []


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


class _BrokenStream:
    def write(self, text: str) -> int:
        raise OSError("stderr is closed")

    def flush(self) -> None:
        raise OSError("stderr is closed")


def test_an_exception_without_text_is_logged_by_its_type(
        capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug")
    diagnostics.swallowed("capture.example", _Unprintable())
    assert _lines(capsys) == ["httprecap: debug: capture.example failed open: _Unprintable: "
                              "(its message could not be read)"]


def test_a_broken_stderr_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    diagnostics.configure("debug")
    monkeypatch.setattr(sys, "stderr", _BrokenStream())
    diagnostics.swallowed("capture.example", RuntimeError("boom"))


def test_the_number_of_places_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug")
    for number in range(diagnostics.MAX_PLACES + 10):
        diagnostics.swallowed(f"capture.example.{number}", RuntimeError("boom"))
    assert len(_lines(capsys)) == diagnostics.MAX_PLACES


def test_a_capture_that_cannot_load_at_its_first_call_is_logged_and_the_client_works(
        capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics.configure("debug")

    class Client:
        def send(self, value: int) -> int:
            return value + 1

    def load() -> patching.Wrapper:
        raise ImportError(SECRET_MESSAGE)

    assert patching.wrap_on_first_call(Client, "send", load)
    try:
        assert [Client().send(1), Client().send(2)] == [2, 3]
    finally:
        patching.unwrap_all()
    (line,) = _lines(capsys)
    assert line.startswith("httprecap: debug: patching.first_call:send failed open: ImportError")
    assert "abc123" not in line
