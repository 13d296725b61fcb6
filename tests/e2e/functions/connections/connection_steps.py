"""The steps of the connections function: each calls `url` `n` times (default 2) through one
client, as a user writes it: on one session (`shared`, the default) or a session, pool, client
or connection built for each call (`fresh`), with the timeout `timeout` names (`default`: the
client's own; else a form below, per client). TLS: the CA in `WIRE_CA`."""

import asyncio
import os
import ssl
from urllib.parse import urlsplit

CA = os.environ.get("WIRE_CA") or None


def _tls():
    return ssl.create_default_context(cafile=CA) if CA else None


def _path(url):
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _each(step, make, call, close=None):
    """`call(session)` n times: on one session `make()` built, or one per call."""
    shared = step.get("session", "shared") == "shared"
    session = make() if shared else None
    statuses = []
    for _ in range(step.get("n", 2)):
        current = session if shared else make()
        statuses.append(call(current))
        if not shared and close is not None:
            close(current)
    if shared and close is not None:
        close(session)
    return statuses


def do_requests(step):
    import requests
    from urllib3.util.timeout import Timeout

    forms = {"default": {}, "number": {"timeout": 5}, "tuple": {"timeout": (2, 7)},
             "none": {"timeout": None}, "urllib3": {"timeout": Timeout(connect=3, read=9)}}
    options = forms[step["timeout"]]
    if step.get("session") == "fresh":  # requests.get: a session per call
        return [requests.get(step["url"], verify=CA, **options).status_code
                for _ in range(step.get("n", 2))]
    return _each(step, requests.Session,
                 lambda s: s.get(step["url"], verify=CA, **options).status_code,
                 lambda s: s.close())


def do_urllib3(step):
    import urllib3

    forms = {"default": ({}, {}), "pool": ({"timeout": urllib3.Timeout(connect=2, read=6)}, {}),
             "urlopen": ({}, {"timeout": 4})}
    pool_options, call_options = forms[step["timeout"]]
    if step["url"].startswith("https"):
        pool_options = {**pool_options, "ca_certs": CA}

    def call(pool):
        response = pool.urlopen("GET", _path(step["url"]), **call_options)
        return response.status

    return _each(step, lambda: urllib3.connection_from_url(step["url"], **pool_options), call,
                 lambda pool: pool.close())


def do_http_client(step):
    import http.client

    parts = urlsplit(step["url"])
    options = {} if step["timeout"] == "default" else {"timeout": 8}

    def make():
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port, context=_tls(),
                                               **options)
        return http.client.HTTPConnection(parts.hostname, parts.port, **options)

    def call(connection):
        connection.request("GET", _path(step["url"]))
        response = connection.getresponse()
        response.read()
        return response.status

    return _each(step, make, call, lambda connection: connection.close())


def do_botocore(step):
    import botocore.session
    from botocore.config import Config

    parts = urlsplit(step["url"])
    bucket, _, key = parts.path.lstrip("/").partition("/")
    options = {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}}
    if step["timeout"] == "config":
        options.update(connect_timeout=2, read_timeout=15)

    def make():
        return botocore.session.get_session().create_client(
            "s3", endpoint_url=f"{parts.scheme}://{parts.netloc}", region_name="us-east-1",
            verify=CA, aws_access_key_id="wire", aws_secret_access_key="wire",
            config=Config(**options))

    def call(client):
        answer = client.head_object(Bucket=bucket, Key=key)
        return answer["ResponseMetadata"]["HTTPStatusCode"]

    return _each(step, make, call, lambda client: client.close())


def _httpx_forms():
    import httpx

    return {"default": ({}, {}), "number": ({"timeout": 11}, {}), "none": ({"timeout": None}, {}),
            "object": ({"timeout": httpx.Timeout(2, read=13)}, {}),
            "request": ({}, {"timeout": 3})}


def do_httpx(step):
    import httpx

    client_options, call_options = _httpx_forms()[step["timeout"]]
    return _each(step, lambda: httpx.Client(verify=_tls() or True, **client_options),
                 lambda client: client.get(step["url"], **call_options).status_code,
                 lambda client: client.close())


def do_httpx_async(step):
    return asyncio.run(_httpx_async(step))


async def _httpx_async(step):
    import httpx

    client_options, call_options = _httpx_forms()[step["timeout"]]
    shared = step.get("session", "shared") == "shared"
    statuses = []
    client = httpx.AsyncClient(verify=_tls() or True, **client_options) if shared else None
    for _ in range(step.get("n", 2)):
        current = client or httpx.AsyncClient(verify=_tls() or True, **client_options)
        statuses.append((await current.get(step["url"], **call_options)).status_code)
        if not shared:
            await current.aclose()
    if client is not None:
        await client.aclose()
    return statuses


def do_aiohttp(step):
    return asyncio.run(_aiohttp(step))


async def _aiohttp(step):
    import aiohttp

    forms = {"default": ({}, {}), "request": ({}, {"timeout": aiohttp.ClientTimeout(total=12)}),
             "session": ({"timeout": aiohttp.ClientTimeout(sock_connect=3, sock_read=9)}, {})}
    session_options, call_options = forms[step["timeout"]]
    if step["url"].startswith("https"):
        call_options = {**call_options, "ssl": _tls()}
    shared = step.get("session", "shared") == "shared"
    statuses = []
    session = aiohttp.ClientSession(**session_options) if shared else None
    for _ in range(step.get("n", 2)):
        current = session or aiohttp.ClientSession(**session_options)
        async with current.get(step["url"], **call_options) as response:
            await response.read()
            statuses.append(response.status)
        if not shared:
            await current.close()
    if session is not None:
        await session.close()
    return statuses


ACTIONS = {"requests": do_requests, "urllib3": do_urllib3, "http.client": do_http_client,
           "botocore": do_botocore, "httpx": do_httpx, "httpx.async": do_httpx_async,
           "aiohttp": do_aiohttp}


def run_steps(steps):
    """Each step's statuses, or {error} with the exception's type name."""
    results = []
    for step in steps:
        try:
            results.append({"statuses": ACTIONS[step["do"]](step)})
        except Exception as exc:
            results.append({"error": f"{type(exc).__name__}: {exc}"[:300]})
    return results
