"""Exactly-once and fail-open rules of the hot path (capture/call.py) and install()."""

from __future__ import annotations

import gc
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from httprecap.internal import bootstrap, hooks
from httprecap.internal.capture import botocore as capture_botocore
from httprecap.internal.capture import call as calls
from httprecap.internal.capture import urllib3 as capture_urllib3
from httprecap.internal.capture.runs import RELEASED, PoolRuns
from httprecap.internal.transport.buffer import Buffer


@pytest.fixture
def buffer() -> Iterator[Buffer]:
    """A sink with no sender behind it: calls stay in the buffer to be inspected."""
    sink = Buffer(capacity=1000, batch_size=1000)
    calls.configure(sink)
    yield sink
    calls.configure(None)
    calls.current_reset()


def _describe(call: calls.Call, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
    call.method, call.target = "GET", "https://example.com/"


def _broken(call: calls.Call, instance: Any, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> None:
    raise KeyError("not what we expected from the library")


def test_a_clients_own_recursion_steps_aside_inside_its_call(buffer: Buffer) -> None:
    outer = calls.open_call("requests", _describe, None, (), {})
    assert outer is not None and calls.current() is outer
    assert calls.open_call("requests", _describe, None, (), {}) is None  # a redirect's send
    assert calls.open_call("http.client", _describe, None, (), {}, nest=False) is None
    calls.close(outer)
    assert calls.current() is None and list(buffer.items) == [outer]


@pytest.mark.parametrize(("outer_library", "inner_library"), [
    ("botocore", "botocore"), ("botocore", "requests"), ("botocore", "urllib3"),
    ("requests", "botocore"), ("requests", "urllib3"), ("urllib3", "requests")])
def test_another_client_inside_a_call_is_a_call_of_its_own(
        buffer: Buffer, outer_library: str, inner_library: str) -> None:
    outer = calls.open_call(outer_library, _describe, None, (), {})
    inner = calls.open_call(inner_library, _describe, None, (), {})
    assert outer is not None and inner is not None and inner.outer is outer
    assert list(calls.open_calls()) == [inner, outer]
    calls.close(inner)
    assert calls.current() is outer
    calls.close(outer)
    assert calls.current() is None and list(buffer.items) == [inner, outer]


def test_a_users_transport_under_httpx_steps_aside(buffer: Buffer) -> None:
    outer = calls.open_call("httpx", _describe, None, (), {})
    assert calls.open_call("urllib3", _describe, None, (), {}) is None
    assert calls.open_call("requests", _describe, None, (), {}) is None
    assert outer is not None
    calls.close(outer)


def test_a_discarded_inner_call_gives_the_slot_back(buffer: Buffer) -> None:
    outer = calls.open_call("botocore", _describe, None, (), {})
    inner = calls.open_call("botocore", _describe, None, (), {})
    assert inner is not None
    calls.discard(inner)
    assert calls.current() is outer and not buffer.items


def test_inside_requests_hooks_the_same_client_is_a_call_of_its_own(buffer: Buffer) -> None:
    outer = calls.open_call("requests", _describe, None, (), {})
    assert outer is not None
    outer.in_hooks = True
    inner = calls.open_call("requests", _describe, None, (), {})
    assert inner is not None and inner.outer is outer
    calls.close(inner)
    assert calls.current() is outer


def test_a_call_is_in_flight_until_closed(buffer: Buffer) -> None:
    call = calls.open_call("requests", _describe, None, (), {})
    assert call is not None and list(calls.open_calls()) == [call]
    calls.close(call)
    assert list(calls.open_calls()) == [] and list(buffer.items) == [call]


def test_an_unparked_call_is_in_flight_in_the_sink_until_closed(buffer: Buffer) -> None:
    call = calls.open_call("http.client", _describe, None, (), {}, nest=False)
    assert call is not None and buffer.inflight == {call} and calls.current() is None
    calls.close(call)
    assert buffer.inflight == set() and list(buffer.items) == [call]


class _Pool:
    scheme, host, port = "http", "127.0.0.1", 8080


class _Response:
    status = 200
    _body = b"hello"
    headers = {"content-length": "5"}


def _answer(*args: Any, **kwargs: Any) -> _Response:
    return _Response()


def test_a_closed_call_keeps_nothing_of_its_first_urllib3_run(buffer: Buffer) -> None:
    # requests' call (located by requests): the pool, the request's arguments and the
    # response's headers, kept while it ran, are not held until the sender writes it.
    call = calls.open_call("requests", _describe, None, (), {})
    assert call is not None
    capture_urllib3._run_first(call, _answer, _Pool(), ("GET", "/x"),
                               {"headers": {"Authorization": "Bearer secret"}})
    runs = call.runs
    assert runs is not None and runs.first is not None and runs.first_end is not None
    calls.close(call)
    assert runs.first is None and runs.first_end is None and list(buffer.items) == [call]


def test_a_call_whose_client_told_its_status_drops_its_runs_whole(buffer: Buffer) -> None:
    # requests' call, its status told by requests: its runs are not read again at close, and
    # go with everything they kept (the pool, the request's arguments): nothing holds them.
    call = calls.open_call("requests", _describe, None, (), {})
    assert call is not None
    pool = _Pool()
    capture_urllib3._run_first(call, _answer, pool, ("GET", "/x"),
                               {"headers": {"Authorization": "Bearer secret"}})
    runs, kept_pool = weakref.ref(call.runs), weakref.ref(pool)
    del pool
    call.status = 200
    calls.close(call)
    assert call.runs is RELEASED and runs() is None and kept_pool() is None
    assert list(buffer.items) == [call]


def test_a_botocore_call_is_located_from_its_first_run_when_it_closes(buffer: Buffer) -> None:
    call = calls.open_call("botocore", lambda *args: None, None, (), {})
    assert call is not None and not call.target
    capture_urllib3._run_first(call, _answer, _Pool(),
                               ("PUT", "/bucket/key", b"abc", {"Authorization": "AWS4 x"}), {})
    runs = call.runs
    assert runs is not None and runs.settle is not None
    calls.close(call)
    assert (call.method, call.origin, call.target) == ("PUT", ("http", "127.0.0.1", 8080),
                                                       "/bucket/key")
    assert (call.bytes_sent, call.status, call.bytes_received) == (3, 200, 5)
    assert runs.first is None and runs.first_end is None and runs.settle is None


class _Answer:
    """A response that can be watched for being freed."""

    status = 200
    _body = b""
    length_remaining = 0


class _Kept:
    """A stand-in for a library call whose frame outlives it (urllib3 keeps the exception of
    an attempt it retries, and its traceback the frames that called it): keeps its caller's."""

    def __init__(self) -> None:
        self.caller: types.FrameType | None = None
        self.answer: weakref.ref[_Answer] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> _Answer:
        self.caller = sys._getframe(1)
        answer = _Answer()
        self.answer = weakref.ref(answer)
        return answer


class _Client:
    class meta:
        region_name = "eu-west-1"

        class service_model:
            service_name = "s3"


# Each drops the response at once, as a user would: the helpers' own frames, kept too (they
# are the wrappers' callers), must not hold it either.
def _run(kept: _Kept) -> None:
    call = calls.open_call("requests", _describe, None, (), {})
    assert call is not None
    calls.run(call, kept, (), {}, lambda call, response: None)


def _run_first(kept: _Kept) -> None:
    call = calls.open_call("requests", _describe, None, (), {})
    assert call is not None
    capture_urllib3._run_first(call, kept, _Pool(), ("GET", "/"), {})
    calls.close(call)


def _run_later(kept: _Kept) -> None:
    call = calls.open_call("requests", _describe, None, (), {})
    assert call is not None
    call.runs = PoolRuns()
    call.runs.depth = 0  # its first run ended: this is a redirect hop, say
    capture_urllib3._run_later(call, kept, _Pool(), ("GET", "/"), {})
    assert call.attempts is not None and len(call.attempts) == 1  # the hop itself
    calls.close(call)


def _make_api_call(kept: _Kept) -> None:
    capture_botocore._make_api_call(kept, _Client(), ("ListBuckets", {}), {})


@pytest.mark.parametrize("wrapper", [_run, _run_first, _run_later, _make_api_call])
def test_a_wrapper_frame_that_outlives_its_call_holds_no_response(
        buffer: Buffer, wrapper: Callable[[_Kept], None]) -> None:
    kept = _Kept()
    gc.disable()
    try:
        wrapper(kept)
        assert kept.caller is not None and kept.answer is not None
        assert kept.answer() is None, f"held by {kept.caller.f_code.co_name}"
    finally:
        gc.enable()


def test_bookkeeping_failure_means_no_record_not_a_failed_call(buffer: Buffer) -> None:
    assert calls.open_call("requests", _broken, None, (), {}) is None
    assert calls.current() is None and not buffer.items


def test_nothing_is_captured_without_a_sink() -> None:
    assert calls.open_call("requests", _describe, None, (), {}) is None


def test_install_is_idempotent_and_patches_once(capture: Any, server: str) -> None:
    capture.start()
    assert not bootstrap.install({"HTTPRECAP_PORT": str(capture.collector.port)})
    requests.get(f"{server}/ok", timeout=5)
    assert len(capture.calls()) == 1


def test_uninstall_restores_the_clients(capture: Any) -> None:
    original = vars(requests.Session)["send"]
    capture.start()
    assert vars(requests.Session)["send"] is not original
    bootstrap.uninstall()
    assert vars(requests.Session)["send"] is original
    assert hooks.PostImportFinder not in {type(f) for f in sys.meta_path}


def test_post_import_hook_runs_after_the_module_executed(tmp_path: Path) -> None:
    (tmp_path / "hooked_target.py").write_text("VALUE = 42\n")
    seen: list[Any] = []
    sys.path.insert(0, str(tmp_path))
    try:
        hooks.when_imported("hooked_target", lambda module: seen.append(module.VALUE))
        import hooked_target  # type: ignore[import-not-found]

        assert seen == [42]
        assert type(hooked_target.__loader__).__name__ == "SourceFileLoader"
        hooks.when_imported("hooked_target", lambda module: seen.append("again"))
        assert seen == [42, "again"]  # already imported: runs at once
    finally:
        hooks.remove_all()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("hooked_target", None)


def test_a_failing_hook_does_not_break_the_import(tmp_path: Path) -> None:
    (tmp_path / "hooked_broken.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        hooks.when_imported("hooked_broken", lambda module: 1 / 0)
        import hooked_broken  # type: ignore[import-not-found]

        assert hooked_broken.VALUE == 1
    finally:
        hooks.remove_all()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("hooked_broken", None)
