"""A function that reads response bodies after its calls returned and goes through a forward
proxy: a body broken midway (urllib.request and aiohttp), a urllib.request redirect, a GET
through a proxy whose URL carries credentials, and a response left unread when the handler
returns. Returns what it saw, so tests can compare with the recaps."""

import asyncio
import http.client
import os
import urllib.request

import aiohttp

UPSTREAM = os.environ["UPSTREAM_URL"]
TRUNCATING = os.environ["TRUNCATING_URL"]  # every body stops short of its Content-Length
PROXY = os.environ["PROXY_URL"]  # http://user:secret@host:port
UNREAD = []  # responses the handler never reads nor closes


def _broken_urllib(tag):
    try:
        return len(urllib.request.urlopen(f"{TRUNCATING}/close?{tag}&via=urllib-broken",
                                          timeout=5).read())
    except http.client.IncompleteRead as exc:
        return type(exc).__name__


async def _broken_aiohttp(tag):
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(f"{TRUNCATING}/close?{tag}&via=aiohttp-broken") as response:
                return len(await response.read())
        except aiohttp.ClientPayloadError as exc:
            return type(exc).__name__


def handler(event, context):
    tag = f"inv={event['n']}"
    seen = {"urllib-broken": _broken_urllib(tag),
            "aiohttp-broken": asyncio.run(_broken_aiohttp(tag))}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": PROXY}))
    with opener.open(f"{UPSTREAM}/fast?{tag}&via=proxy", timeout=5) as response:
        seen["proxy"] = response.status
        response.read()
    with urllib.request.urlopen(f"{UPSTREAM}/redirect?{tag}&via=redirect", timeout=5) as response:
        seen["redirect"] = response.status
        response.read()
    UNREAD.append(urllib.request.urlopen(f"{UPSTREAM}/fast?{tag}&via=unread", timeout=5))
    seen["unread"] = UNREAD[-1].status
    return seen
