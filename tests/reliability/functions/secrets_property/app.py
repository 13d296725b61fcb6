"""A function that makes the HTTP calls its event describes, each with a client, a URL (its
query and user-info may hold secrets), headers and a body, sent to an echo route so the
response body repeats it. A header value with a trailing newline makes the client raise with
the value in its message; a call to a closed port raises with the URL in it. Errors are
swallowed: the recap must keep them without their secrets. It never prints a secret."""

import http.client
import urllib.request
from urllib.parse import urlsplit

import httpx
import requests
import urllib3

_pool = urllib3.PoolManager()


def _with_http_client(method, url, headers, body):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers)
        connection.getresponse().read()
    finally:
        connection.close()


def _with_urllib(method, url, headers, body):
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=5) as reply:
        reply.read()


CLIENTS = {
    "requests": lambda m, u, h, b: requests.request(m, u, headers=h, data=b, timeout=5),
    "urllib3": lambda m, u, h, b: _pool.request(m, u, headers=h, body=b, retries=False),
    "httpx": lambda m, u, h, b: httpx.request(m, u, headers=h, content=b, timeout=5),
    "http.client": _with_http_client,
    "urllib": _with_urllib,
}


def handler(event, context):
    failed = 0
    for case in event["cases"]:
        body = case["body"].encode() if case["body"] is not None else None
        try:
            CLIENTS[case["client"]](case["method"], case["url"], dict(case["headers"]), body)
        except Exception:  # the recap keeps the error, without its secrets
            failed += 1
    return {"calls": len(event["cases"]), "failed": failed}
