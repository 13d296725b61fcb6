"""A function for Lambda Managed Instances tests: makes exactly the calls its event lists
(some slow, some failing), from the handler's thread or a helper thread, with requests or
urllib, and may raise afterwards. Returns its worker's pid."""

import os
import threading
import time
import urllib.error
import urllib.request

import requests

UPSTREAM = os.environ["UPSTREAM_URL"]

if os.environ.get("INIT_CALL"):  # a call at import: once in every worker
    try:  # the first worker here is the slow one: its init ends after others served
        os.close(os.open(os.environ["SLOW_INIT_MARKER"], os.O_CREAT | os.O_EXCL))
        time.sleep(1.5)
    except (KeyError, FileExistsError):
        pass
    requests.get(UPSTREAM + os.environ["INIT_CALL"] + f"&pid={os.getpid()}", timeout=5)


def _call(path, library):
    try:
        if library == "requests":
            requests.get(UPSTREAM + path, timeout=5)
        else:
            urllib.request.urlopen(UPSTREAM + path, timeout=5).read()
    except (requests.RequestException, urllib.error.URLError, OSError):
        pass  # a failing call is part of the test: the recap must show it


def handler(event, context):
    library = event.get("library", "requests")
    if event.get("threaded"):
        worker = threading.Thread(target=lambda: [_call(p, library) for p in event["calls"]])
        worker.start()
        worker.join()
    else:
        for path in event["calls"]:
            _call(path, library)
    if event.get("raise"):
        raise RuntimeError(f"invocation {event['n']} fails on purpose")
    return {"n": event["n"], "pid": os.getpid()}
