"""A function whose module makes two calls (the second answered 503), then raises: its init
fails, every time Lambda tries it."""

import os
import urllib.error
import urllib.request

UPSTREAM = os.environ["UPSTREAM_URL"]

urllib.request.urlopen(f"{UPSTREAM}/fast?phase=init&i=1", timeout=5).read()
try:
    urllib.request.urlopen(f"{UPSTREAM}/status/503?phase=init&i=2", timeout=5)
except urllib.error.HTTPError:
    pass
raise RuntimeError("the configuration is missing")


def handler(event, context):
    return "never served"
