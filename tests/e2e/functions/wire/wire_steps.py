"""The steps a wire-truth function runs: each one HTTP call through one client, as a user
writes it, with the body sent and the response read in full.

A step is a dict: `do` (the client, below), `method`, `url` (carrying its tag), and optionally
`body` (a size), `body_kind` (`bytes`, `file` or `stream`), `proxy` (a forward proxy's URL),
`stream` (read the response as a stream), `retries` (urllib3: `Retry(total, status_forcelist)`;
botocore: max attempts), `op` (botocore's S3 operation: put, get, head, delete), `redirect` (follow
redirects: default true). Clients are imported when first used, so a function that vendors
one client set never imports the others' vendored copies. TLS: the CA in `WIRE_CA`.
"""

import asyncio
import os
import ssl
import sys
import tempfile

CA = os.environ.get("WIRE_CA") or None
CHUNK = 100


def _tls():
    return ssl.create_default_context(cafile=CA) if CA else None


def _body(step):
    size = step.get("body")
    if size is None:
        return None
    data = (b"abcdefghij" * (size // 10 + 1))[:size]
    kind = step.get("body_kind", "bytes")
    if kind == "file":
        handle = tempfile.TemporaryFile()  # noqa: SIM115 (the client reads it, then it is closed)
        handle.write(data)
        handle.seek(0)
        return handle
    if kind == "stream":
        return (data[i:i + CHUNK] for i in range(0, len(data), CHUNK))
    return data


async def _async_body(step):
    size = step.get("body") or 0
    data = (b"abcdefghij" * (size // 10 + 1))[:size]
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]


def do_requests(step):
    import requests

    with requests.Session() as session:
        if step.get("retries") is not None:
            adapter = requests.adapters.HTTPAdapter(max_retries=_retry(step))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        proxies = {"http": step["proxy"], "https": step["proxy"]} if step.get("proxy") else None
        response = session.request(step["method"], step["url"], data=_body(step),
                                   proxies=proxies, stream=bool(step.get("stream")),
                                   allow_redirects=step.get("redirect", True), timeout=10)
        size = sum(len(piece) for piece in response.iter_content(CHUNK)) \
            if step.get("stream") else len(response.content)
        return {"status": response.status_code, "size": size}


def _retry(step):
    from urllib3.util.retry import Retry

    retries = step.get("retries")
    if retries is None:
        return None
    return Retry(total=retries, status_forcelist=[503], backoff_factor=0,
                 allowed_methods=None, raise_on_status=False)


def _urllib3_read(response, step):
    if step.get("stream"):
        size = sum(len(piece) for piece in response.stream(CHUNK))
    else:
        size = len(response.data)
    response.release_conn()
    return {"status": response.status, "size": size}


def do_urllib3_pool(step):
    import urllib3

    pool = urllib3.connection_from_url(step["url"], ca_certs=CA) if step["url"].startswith(
        "https") else urllib3.connection_from_url(step["url"])
    response = pool.urlopen(step["method"], _path_of(step["url"]), body=_body(step),
                            retries=_retry(step), redirect=step.get("redirect", True),
                            preload_content=not step.get("stream"))
    return _urllib3_read(response, step)


def do_urllib3_manager(step):
    import urllib3

    manager = urllib3.PoolManager(ca_certs=CA)
    options = {"retries": _retry(step), "preload_content": not step.get("stream")}
    if urllib3.__version__.startswith("1."):  # request(method, url, fields, headers, ...)
        response = manager.request(step["method"], step["url"], body=_body(step), **options)
    else:  # request(method, url, body, fields, headers, ...)
        response = manager.request(step["method"], step["url"], _body(step), **options)
    return _urllib3_read(response, step)


def do_urllib3_manager_urlopen(step):
    """`PoolManager.urlopen(method, url, redirect, **kw)`: its third positional is `redirect`."""
    import urllib3

    manager = urllib3.PoolManager(ca_certs=CA)
    response = manager.urlopen(step["method"], step["url"], True, body=_body(step),
                               retries=_retry(step))
    return _urllib3_read(response, step)


def do_urllib3_proxy(step):
    import urllib3

    manager = urllib3.ProxyManager(step["proxy"], ca_certs=CA)
    response = manager.request(step["method"], step["url"], body=_body(step),
                               retries=_retry(step))
    return _urllib3_read(response, step)


def _path_of(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def do_http_client(step):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(step["url"])
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=_tls(),
                                                 timeout=10)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(step["method"], _path_of(step["url"]), body=_body(step))
        response = connection.getresponse()
        return {"status": response.status, "size": len(response.read())}
    finally:
        connection.close()


def do_urllib_request(step):
    import urllib.error
    import urllib.request

    handlers = [urllib.request.HTTPSHandler(context=_tls())]
    if step.get("proxy"):
        handlers.append(urllib.request.ProxyHandler(
            {"http": step["proxy"], "https": step["proxy"]}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(step["url"], data=_body(step), method=step["method"])
    try:
        with opener.open(request, timeout=10) as response:
            return {"status": response.status, "size": len(response.read())}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "size": len(exc.read())}


def do_botocore(step):
    from urllib.parse import urlsplit

    import botocore.session
    from botocore.config import Config

    parts = urlsplit(step["url"])
    endpoint = f"{parts.scheme}://{parts.netloc}"
    bucket, _, key = parts.path.lstrip("/").partition("/")
    options = {"s3": {"addressing_style": "path"},
               "retries": {"max_attempts": step.get("retries", 1), "mode": "standard"}}
    if step.get("proxy"):
        options["proxies"] = {"http": step["proxy"], "https": step["proxy"]}
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", verify=CA,
        aws_access_key_id="wire", aws_secret_access_key="wire", config=Config(**options))
    operation = step["op"]
    if operation == "put":
        answer = client.put_object(Bucket=bucket, Key=key, Body=_body(step) or b"")
        return {"status": answer["ResponseMetadata"]["HTTPStatusCode"], "size": 0}
    if operation == "delete":
        answer = client.delete_object(Bucket=bucket, Key=key)
        return {"status": answer["ResponseMetadata"]["HTTPStatusCode"], "size": 0}
    if operation == "head":
        answer = client.head_object(Bucket=bucket, Key=key)
        return {"status": answer["ResponseMetadata"]["HTTPStatusCode"], "size": 0}
    answer = client.get_object(Bucket=bucket, Key=key)
    return {"status": answer["ResponseMetadata"]["HTTPStatusCode"],
            "size": len(answer["Body"].read())}


def _httpx_options(step):
    import httpx

    options = {"verify": _tls() or True, "timeout": 10,
               "follow_redirects": step.get("redirect", True)}
    if step.get("proxy"):
        # httpx 0.26 added `proxy`; older ones take `proxies`.
        modern = tuple(int(p) for p in httpx.__version__.split(".")[:2]) >= (0, 26)
        options["proxy" if modern else "proxies"] = step["proxy"]
    return options


def do_httpx(step):
    import httpx

    body = _body(step)
    with httpx.Client(**_httpx_options(step)) as client:
        if step.get("stream"):
            with client.stream(step["method"], step["url"], content=body) as response:
                size = sum(len(piece) for piece in response.iter_raw())
                return {"status": response.status_code, "size": size}
        response = client.request(step["method"], step["url"], content=body)
        return {"status": response.status_code, "size": len(response.content)}


def do_httpx_async(step):
    return asyncio.run(_httpx_async(step))


async def _httpx_async(step):
    import httpx

    body = _async_body(step) if step.get("body_kind") == "stream" else _body(step)
    async with httpx.AsyncClient(**_httpx_options(step)) as client:
        if step.get("stream"):
            async with client.stream(step["method"], step["url"], content=body) as response:
                size = 0
                async for piece in response.aiter_raw():
                    size += len(piece)
                return {"status": response.status_code, "size": size}
        response = await client.request(step["method"], step["url"], content=body)
        return {"status": response.status_code, "size": len(response.content)}


def do_aiohttp(step):
    return asyncio.run(_aiohttp(step))


async def _aiohttp(step):
    import aiohttp

    body = _async_body(step) if step.get("body_kind") == "stream" else _body(step)
    options = {"data": body, "allow_redirects": step.get("redirect", True)}
    if step.get("proxy"):
        options["proxy"] = step["proxy"]
    if step["url"].startswith("https"):
        options["ssl"] = _tls()
    async with aiohttp.ClientSession() as session, \
            session.request(step["method"], step["url"], **options) as response:
        size = 0
        async for piece in response.content.iter_chunked(CHUNK):
            size += len(piece)
        return {"status": response.status, "size": size}


ACTIONS = {
    "requests": do_requests,
    "urllib3.pool": do_urllib3_pool,
    "urllib3.manager": do_urllib3_manager,
    "urllib3.manager_urlopen": do_urllib3_manager_urlopen,
    "urllib3.proxy": do_urllib3_proxy,
    "http.client": do_http_client,
    "urllib.request": do_urllib_request,
    "botocore": do_botocore,
    "httpx": do_httpx,
    "httpx.async": do_httpx_async,
    "aiohttp": do_aiohttp,
}
CLIENT_MODULES = ("requests", "urllib3", "botocore", "boto3", "httpx", "httpcore", "aiohttp",
                  "yarl", "wrapt")


def run_steps(steps):
    """Each step's outcome: {status, size}, or {error} with the exception's type name."""
    results = []
    for step in steps:
        try:
            results.append(ACTIONS[step["do"]](step))
        except Exception as exc:
            results.append({"error": f"{type(exc).__name__}: {exc}"[:300]})
    return results


def client_modules():
    """Version and file of each client module loaded: what the function really ran."""
    found = {}
    for name in CLIENT_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            found[name] = [getattr(module, "__version__", None),
                           getattr(module, "__file__", None)]
    return found
