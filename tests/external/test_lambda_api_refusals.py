"""Refusals of the Extensions API are typed by their `errorType`, and the run loop picks its path
by type: a platform that refuses INVOKE (Lambda Managed Instances not announced as such) leaves
the extension registered for SHUTDOWN only, not exited (which would fail the function's init)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from layer_support import free_port

from httprecap.external.lambda_api.extensions import (
    ApiRefusal,
    ExtensionsClient,
    InvalidEventType,
    LambdaApiError,
)
from httprecap.external.main import main


class StandIn(ThreadingHTTPServer):
    """An Extensions API that refuses INVOKE (403 Extension.InvalidEventType) or, with
    `refuse_all`, every registration; SHUTDOWN comes at the first /event/next."""

    daemon_threads = True

    def __init__(self, refuse_all: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refuse_all = refuse_all
        self.registered: list[list[str]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandIn

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        events = body.get("events", [])
        self.server.registered.append(events)
        if self.server.refuse_all:
            self._reply(403, {"errorMessage": "no", "errorType": "Extension.TooManyExtensions"})
        elif "INVOKE" in events:
            self._reply(403, {"errorMessage": "INVOKE: ErrorInvalidEventType",
                              "errorType": "Extension.InvalidEventType"})
        else:
            self._reply(200, {"functionName": "f", "functionVersion": "$LATEST"},
                        {"Lambda-Extension-Identifier": "b0c73fe3-28f9-462c-9f28-6adf7a38bb4d"})

    def do_GET(self) -> None:
        self._reply(200, {"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                          "deadlineMs": 0})

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        pass


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _address(server: StandIn) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def test_an_invalid_event_type_refusal_is_its_own_type(stand_in: StandIn) -> None:
    client = ExtensionsClient(_address(stand_in), "httprecap")
    with pytest.raises(InvalidEventType) as refused:
        client.register(("INVOKE", "SHUTDOWN"))
    assert refused.value.status == 403
    assert refused.value.error_type == "Extension.InvalidEventType"
    assert str(refused.value) == ("register answered 403 (Extension.InvalidEventType: "
                                  "INVOKE: ErrorInvalidEventType)")


def test_other_refusals_are_api_refusals_only(stand_in: StandIn) -> None:
    stand_in.refuse_all = True
    client = ExtensionsClient(_address(stand_in), "httprecap")
    with pytest.raises(ApiRefusal) as refused:
        client.register(("SHUTDOWN",))
    assert not isinstance(refused.value, InvalidEventType)
    assert isinstance(refused.value, LambdaApiError)


def _environ(monkeypatch: pytest.MonkeyPatch, server: StandIn) -> None:
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", _address(server))
    monkeypatch.setenv("HTTPRECAP_PORT", str(free_port()))
    monkeypatch.setenv("HTTPRECAP_TELEMETRY_PORT", str(free_port()))
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)


def test_a_platform_refusing_invoke_leaves_the_extension_registered_for_shutdown_only(
        stand_in: StandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _environ(monkeypatch, stand_in)
    assert main("httprecap") == 0
    assert stand_in.registered == [["INVOKE", "SHUTDOWN"], ["SHUTDOWN"]]
    assert "this platform sends no INVOKE events" in capsys.readouterr().err


def test_any_other_refusal_ends_the_extension_with_an_error(
        stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in.refuse_all = True
    _environ(monkeypatch, stand_in)
    assert main("httprecap") == 1
    assert stand_in.registered == [["INVOKE", "SHUTDOWN"]]
