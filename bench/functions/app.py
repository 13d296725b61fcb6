"""Bench function: imports requests and boto3, makes `calls` GETs to `url` per invoke
(runs in the sandbox's runtime process, under every configuration the suite compares).

The cold-start scenario is its init (importing both libraries); the warm scenarios are
invokes with 0, 10 or 100 calls (or more, for the extension's figures) over one kept-alive
session, as a typical function calling one API does.
"""

from time import perf_counter

import boto3  # noqa: F401  (imported for its start-up cost, as real functions do)
import requests

SESSION = requests.Session()


def handler(event, context):
    started = perf_counter()
    url = event.get("url", "")
    for _ in range(int(event.get("calls", 0))):
        SESSION.get(url).content  # noqa: B018  (read the body, as a caller would)
    return {"calls": event.get("calls", 0), "bodyMs": (perf_counter() - started) * 1000}
