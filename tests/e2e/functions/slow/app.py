"""A function that finishes one call, then hangs in a second until the function times out,
or raises, or crashes the runtime, as the event asks."""

import os

import requests

UPSTREAM = os.environ["UPSTREAM_URL"]


def handler(event, context):
    requests.get(f"{UPSTREAM}/fast?step=1", timeout=5)
    if event.get("mode") == "raise":
        raise ValueError("handler gave up")
    if event.get("mode") == "exit":
        os._exit(3)
    requests.get(f"{UPSTREAM}/slow?ms={event.get('ms', 5000)}&step=2", timeout=30)
    return {"done": True}
