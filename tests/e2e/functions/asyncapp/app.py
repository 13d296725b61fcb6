"""A function whose handler runs an async body with asyncio.run (or on an event loop kept
across invocations, with its httpx client), gathering httpx and aiohttp calls; one sync httpx
call at module level (init). Returns what it saw so tests can compare with the recaps."""

import asyncio
import os

import aiohttp
import httpx

UPSTREAM = os.environ["UPSTREAM_URL"]

httpx.get(f"{UPSTREAM}/fast?phase=init", timeout=5)
LOOP = asyncio.new_event_loop()  # kept for the life of the runtime, like a warm client
KEPT = {}


async def _aiohttp_get(session, url):
    try:
        async with session.get(url) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError as exc:
        return type(exc).__name__


async def _httpx_get(client, url, **options):
    return (await client.get(url, **options)).status_code


async def _body(client, tag):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(
            *(_httpx_get(client, f"{UPSTREAM}/slow?ms=20&{tag}&via=httpx&i={i}")
              for i in range(3)),
            *(_aiohttp_get(session, f"{UPSTREAM}/slow?ms=20&{tag}&via=aiohttp&i={i}")
              for i in range(3)),
            _httpx_get(client, f"{UPSTREAM}/redirect?{tag}&via=httpx-redirect",
                       follow_redirects=True),
            _aiohttp_get(session, f"{UPSTREAM}/redirect?{tag}&via=aiohttp-redirect"),
            _aiohttp_get(session, f"{UPSTREAM}/drop?{tag}&via=aiohttp-drop"),
        )


async def _fresh(tag):
    async with httpx.AsyncClient(timeout=5) as client:
        return await _body(client, tag)


async def _kept(tag):
    if "client" not in KEPT:
        KEPT["client"] = httpx.AsyncClient(timeout=5)
    return await _body(KEPT["client"], tag)


def handler(event, context):
    tag = f"inv={event['n']}"
    if event.get("keep_loop"):
        statuses = LOOP.run_until_complete(_kept(tag))
    else:
        statuses = asyncio.run(_fresh(tag))
    return {"requestId": context.aws_request_id, "statuses": statuses}
