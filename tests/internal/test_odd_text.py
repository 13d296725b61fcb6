"""Text from user code that is not valid Unicode (lone surrogates, as `surrogateescape`
decoding leaves them) in a URL, a thread name, a header or an exception: the call is recapped
with U+FFFD in their place, and no other call of the invocation is lost.

Functional tests: capture installed in this process posts to the extension's real collector
and aggregator on loopback.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from httprecap import wire
from httprecap.external.aggregate.store import Aggregator
from httprecap.external.collect.collector import Collector
from httprecap.external.http11 import Server
from httprecap.internal import bootstrap, invocation
from httprecap.internal.transport.encode import _quote


@pytest.fixture
def extension() -> Iterator[tuple[Aggregator, Collector]]:
    """The extension's collector and aggregator, with capture installed to post to them."""
    aggregator = Aggregator(100)
    collector = Collector(aggregator)
    server: Server = collector.listen(0)
    assert bootstrap.install({"HTTPRECAP_PORT": str(server.port),
                              "HTTPRECAP_CAPTURE_HEADERS": "true"})
    yield aggregator, collector
    bootstrap.uninstall()
    server.stop()


def _recap(aggregator: Aggregator, request_id: str) -> dict[str, Any]:
    sender = bootstrap.sender()
    assert sender is not None and sender.flush(5.0)
    assert aggregator.wait_complete(request_id, 2.0) == "handoff"
    (recap,) = aggregator.take(request_id)
    recap.line().encode("utf-8")  # what every sink does with it
    return recap.as_dict()


def test_a_lone_surrogate_in_a_url_path_costs_nothing(
        extension: tuple[Aggregator, Collector], server: str) -> None:
    aggregator, collector = extension
    invocation.begin("req-odd-url")
    requests.get(f"{server}/ok", timeout=5)
    requests.get(f"{server}/files/report-\udcff.csv?name=\udcfe", timeout=5)
    invocation.end("success")
    recap = _recap(aggregator, "req-odd-url")
    assert recap["summary"]["count"] == 2 and recap["dropped"]["count"] == 0
    # requests sends the path percent-encoded (as UTF-8 with surrogates passed), and so
    # records it; http.client would refuse it, recorded with its error (below).
    assert recap["calls"][1]["path"] == "/files/report-%ED%B3%BF.csv"
    assert sum(collector.rejected.values()) == 0


def test_a_lone_surrogate_in_a_thread_name_costs_nothing(
        extension: tuple[Aggregator, Collector], server: str) -> None:
    aggregator, _ = extension
    invocation.begin("req-odd-thread")
    worker = threading.Thread(target=requests.get, args=(f"{server}/ok",),
                              kwargs={"timeout": 5}, name="w\udcff")
    worker.start()
    worker.join()
    requests.get(f"{server}/ok", timeout=5)
    invocation.end("success")
    recap = _recap(aggregator, "req-odd-thread")
    assert recap["summary"]["count"] == 2 and recap["dropped"]["count"] == 0
    assert sorted(call["thread"] for call in recap["calls"]) == ["MainThread", "w\ufffd"]


def test_lone_surrogates_in_refused_urls_headers_and_errors_cost_nothing(
        extension: tuple[Aggregator, Collector], server: str) -> None:
    aggregator, _ = extension
    invocation.begin("req-odd-parts")
    with pytest.raises(UnicodeEncodeError):  # http.client sends header values as latin-1
        requests.get(f"{server}/ok", headers={"X-File": "a\udcffb"}, timeout=5)
    connection = http.client.HTTPConnection(urlsplit(server).netloc, timeout=5)
    with pytest.raises(UnicodeEncodeError):  # and the request target as ASCII
        connection.request("GET", "/files/\udcff")
    requests.get(f"{server}/ok", timeout=5)
    invocation.end("success")
    recap = _recap(aggregator, "req-odd-parts")
    assert recap["summary"]["count"] == 3 and recap["dropped"]["count"] == 0
    header, target, fine = recap["calls"]
    assert header["requestHeaders"]["X-File"] == "a\ufffdb"
    assert target["path"] == "/files/\ufffd" and target["error"] is not None
    assert fine["status"] == 200


def test_quoting_plain_text_is_what_json_writes() -> None:
    for text in ("plain", "caf\u00e9", "\U0001f600", 'q"b\\'):
        assert _quote(text) == wire_quote(text)
    assert _quote("a\udcffb") == '"a\\ufffdb"'


def wire_quote(text: str) -> str:
    import json

    return json.dumps(text)


def test_valid_text_leaves_valid_strings_as_they_are() -> None:
    text = "caf\u00e9 \U0001f600"
    assert wire.valid_text(text) is text
    assert wire.valid_text("\ud83d\ude00x\udcff") == "\ufffd\ufffdx\ufffd"
