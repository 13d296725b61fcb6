"""Transport: a batch the extension refuses (4xx, 5xx) loses its calls, counted, but never an
invocation's `end`: that is posted once more on its own, with the loss in its `dropped`, so
the recap still ships and shows it.

Functional tests: capture installed in this process posts to a loopback stand-in collector
that refuses the batches a test tells it to.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from httprecap.internal import bootstrap, invocation


class Refuser:
    """Answers `refusals` (statuses, in order) to the first batches that hold an `end`, 202 to
    every other; keeps the `end`s of the batches it accepted."""

    def __init__(self, refusals: list[int]) -> None:
        self.refusals = refusals
        self.ends: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        refuser = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ends = [m for m in batch["messages"] if m["k"] == "end"]
                with refuser.lock:
                    status = refuser.refusals.pop(0) if ends and refuser.refusals else 202
                    if status == 202:
                        refuser.ends += ends
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _start(refusals: list[int]) -> Refuser:
    refuser = Refuser(refusals)
    assert bootstrap.install({"HTTPRECAP_PORT": str(refuser.port)})
    return refuser


@pytest.fixture
def refused() -> Iterator[list[Refuser]]:
    made: list[Refuser] = []
    yield made
    bootstrap.uninstall()
    for refuser in made:
        refuser.close()


def _invoke(request_id: str, server: str, calls: int) -> None:
    invocation.begin(request_id)
    for _ in range(calls):
        requests.get(f"{server}/ok", timeout=5)
    invocation.end("success")
    sender = bootstrap.sender()
    assert sender is not None and sender.flush(5.0)


@pytest.mark.parametrize("status", [400, 413, 429, 500])
def test_a_refused_end_is_posted_again_with_the_loss_counted(
        refused: list[Refuser], server: str, status: int) -> None:
    refused.append(refuser := _start([status]))
    _invoke("req-1", server, calls=3)
    (end,) = refuser.ends
    assert (end["requestId"], end["status"], end["calls"]) == ("req-1", "success", 0)
    assert end["dropped"] == {"transport": 3}


def test_an_end_refused_twice_is_given_up_and_its_loss_goes_to_the_next(
        refused: list[Refuser], server: str) -> None:
    refused.append(refuser := _start([400, 400]))
    _invoke("req-1", server, calls=2)
    assert refuser.ends == []
    _invoke("req-2", server, calls=1)
    (end,) = refuser.ends
    assert (end["requestId"], end["calls"]) == ("req-2", 1)
    assert end["dropped"] == {"transport": 2}
