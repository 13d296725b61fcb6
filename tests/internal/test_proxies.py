"""Every client through a forward proxy (the logging `WireProxy`): an http:// target sent in
absolute-form, an https:// one through a CONNECT tunnel. The call names its target (scheme,
host, port, path, url), never the proxy's host; clients that say which proxy they used have it
beside the target (`proxy`), without its credentials."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import pytest
import requests
import urllib3
from wire_support import Certificate, WireProxy, WireUpstream, self_signed

if TYPE_CHECKING:
    from conftest import Capture

SECRET = "pr0xy-s3cret"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", params=["http", "https"])
def upstream(request: pytest.FixtureRequest, certificate: Certificate) -> Iterator[WireUpstream]:
    tls = certificate if request.param == "https" else None
    with WireUpstream("127.0.0.1", tls=tls) as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[WireProxy]:
    with WireProxy() as server:
        yield server


def _context(certificate: Certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate.cert))


def _via_requests(url: str, proxy: str, certificate: Certificate) -> int:
    return requests.get(url, proxies={"http": proxy, "https": proxy},
                        verify=str(certificate.cert), timeout=5).status_code


def _via_urllib3(url: str, proxy: str, certificate: Certificate) -> int:
    manager = urllib3.ProxyManager(proxy, ca_certs=str(certificate.cert),
                                   proxy_headers=urllib3.make_headers(
                                       proxy_basic_auth=f"user:{SECRET}"))
    return manager.request("GET", url, timeout=5).status


def _via_urllib_request(url: str, proxy: str, certificate: Certificate) -> int:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy, "https": proxy}),
        urllib.request.HTTPSHandler(context=_context(certificate)))
    with opener.open(url, timeout=5) as response:
        response.read()
        return int(response.status)


def _via_httpx(url: str, proxy: str, certificate: Certificate) -> int:
    with httpx.Client(proxy=proxy, verify=_context(certificate), timeout=5) as client:
        return client.get(url).status_code


def _via_aiohttp(url: str, proxy: str, certificate: Certificate) -> int:
    async def get() -> int:
        async with aiohttp.ClientSession() as session, \
                session.get(url, proxy=proxy, ssl=_context(certificate)) as response:
            await response.read()
            return response.status

    return asyncio.run(get())


# client -> (how it gets a URL through a proxy, the library it records, whether it notes
# the proxy)
CLIENTS: dict[str, tuple[Callable[[str, str, Certificate], int], str, bool]] = {
    "requests": (_via_requests, "requests", False),
    "urllib3": (_via_urllib3, "urllib3", False),
    "urllib.request": (_via_urllib_request, "http.client", True),
    "httpx": (_via_httpx, "httpx", True),
    "aiohttp": (_via_aiohttp, "aiohttp", True),
}


# What each client raises for a proxy it cannot reach.
REFUSED = (requests.exceptions.ProxyError, urllib3.exceptions.MaxRetryError,
           urllib.error.URLError, httpx.ConnectError, aiohttp.ClientProxyConnectionError)


def _callers_calls(capture: Capture) -> list[dict[str, Any]]:
    """The calls this thread made (not the in-process proxy's own, made on its threads)."""
    return [call for call in capture.calls() if call["thread"] == "MainThread"]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_call_through_a_proxy_names_its_target(
        client: str, installed: Capture, upstream: WireUpstream, proxy: WireProxy,
        certificate: Certificate) -> None:
    get, library, notes_proxy = CLIENTS[client]
    host = "localhost" if upstream.scheme == "https" else "127.0.0.1"  # (the certificate's)
    url = f"{upstream.scheme}://{host}:{upstream.port}/bytes?n=7&client={client}"
    assert get(url, f"http://user:{SECRET}@127.0.0.1:{proxy.port}", certificate) == 200
    asked = [(e.method, e.target) for e in proxy.log.all()]
    assert asked == ([("GET", url)] if upstream.scheme == "http"
                     else [("CONNECT", f"{host}:{upstream.port}")])
    (call,) = _callers_calls(installed)
    assert call["library"] == library and call["status"] == 200
    assert (call["scheme"], call["host"], call["port"], call["path"], call["url"]) == (
        upstream.scheme, host, upstream.port, "/bytes", url)
    assert call.get("proxy") == (f"127.0.0.1:{proxy.port}" if notes_proxy else None)
    assert SECRET not in str(installed.collector.batches)


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_refused_proxy_s_credentials_stay_out_of_the_recap(
        client: str, installed: Capture, certificate: Certificate) -> None:
    get, library, notes_proxy = CLIENTS[client]
    with pytest.raises(REFUSED):
        get("http://example.invalid/x", f"http://user:{SECRET}@127.0.0.1:9", certificate)
    (call,) = _callers_calls(installed)
    assert (call["library"], call["host"], call["status"]) == (library, "example.invalid", None)
    assert call["error"] is not None
    assert call.get("proxy") == ("127.0.0.1:9" if notes_proxy else None)
    assert SECRET not in str(installed.collector.batches)
