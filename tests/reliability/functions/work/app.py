"""A function whose every outbound call is planned by its event, so tests can compare the recap
with what really happened. `pause_ms` first gives a test time to break something; then it makes
`calls` GETs to the upstream (spread over `threads` threads, cycling through requests, urllib3
and http.client), then, as the event asks: starts a call that hangs (`hang_ms`) and lets the
timeout, `os._exit` or memory exhaustion end it, or raises. It returns how long its own calls
took, measured inside the handler."""

import http.client
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
import urllib3

UPSTREAM = os.environ["UPSTREAM_URL"]
_ORIGIN = urlsplit(UPSTREAM)
_session = requests.Session()
_pool = urllib3.PoolManager(maxsize=32)
_local = threading.local()
LIBRARIES = ("requests", "urllib3", "http.client")
MAX_HOG_BYTES = 4 * 1024 ** 3  # never allocate without bound, even if nothing kills us


def _connection():
    if getattr(_local, "connection", None) is None:
        _local.connection = http.client.HTTPConnection(_ORIGIN.hostname, _ORIGIN.port, timeout=10)
    return _local.connection


def call(path, library):
    """One GET through `library`; returns its status and how long it took (ms)."""
    started = time.perf_counter()
    status = _get(path, library)
    return status, (time.perf_counter() - started) * 1000


def _get(path, library):
    if library == "requests":
        return _session.get(UPSTREAM + path, timeout=30).status_code
    if library == "urllib3":
        return _pool.request("GET", UPSTREAM + path, timeout=30.0).status
    connection = _connection()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        connection.close()
        raise


def _planned(event):
    tag = event.get("tag", "t")
    libraries = event.get("libraries", LIBRARIES)
    return [(f"/fast?{tag}&i={i}", libraries[i % len(libraries)])
            for i in range(event.get("calls", 0))]


def _run_calls(planned, threads):
    if threads <= 1:
        return [call(path, library) for path, library in planned]
    with ThreadPoolExecutor(threads) as executor:
        return list(executor.map(lambda item: call(*item), planned))


def _hang(event):
    """Start the call that never finishes in time, in a thread of its own."""
    path = f"/slow?ms={event['hang_ms']}&{event.get('tag', 't')}&hanging=1"
    hanging = threading.Thread(target=_get, args=(path, "requests"), name="hanging-call",
                               daemon=True)
    hanging.start()
    time.sleep(0.25)  # long enough for the transport to announce the call as in flight
    return hanging


def _exhaust_memory():
    hog = []
    while sum(map(len, hog)) < MAX_HOG_BYTES:
        hog.append(b"m" * (32 * 1024 * 1024))  # bytes() touches every page: resident at once
        time.sleep(0.02)


def handler(event, context):
    if event.get("pause_ms"):
        time.sleep(event["pause_ms"] / 1000)  # a window for the test to break something
    started = time.perf_counter()
    done = _run_calls(_planned(event), event.get("threads", 1))
    calls_ms = (time.perf_counter() - started) * 1000
    if event.get("sleep_ms"):
        time.sleep(event["sleep_ms"] / 1000)
    hanging = _hang(event) if event.get("hang_ms") else None
    mode = event.get("mode")
    if mode == "raise":
        raise RuntimeError("the handler gave up on purpose")
    if mode == "exit":
        os._exit(3)
    if mode == "oom":
        _exhaust_memory()
    if hanging is not None:
        hanging.join()
    result = {"statuses": sorted({status for status, _ in done}), "count": len(done),
              "callsMs": round(calls_ms, 3), "pid": os.getpid()}
    if event.get("per_call"):
        result["perCallMs"] = [round(ms, 3) for _, ms in done]
    return result
