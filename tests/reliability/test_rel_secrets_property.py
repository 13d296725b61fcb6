"""Property, end to end: generated secrets placed wherever a user could put them never appear
in anything httprecap or the sandbox wrote.

One sandbox with the built layer, header and body capture on, and sinks stdout, file and two
HTTP sinks (one unreachable), whose own settings hold secrets too: HTTPRECAP_SINKS URLs with
user-info and a key in the query, a malformed HTTPRECAP_HTTP_HEADERS. Each generated example
is one invocation making a handful of calls, through requests, urllib3, httpx, http.client or
urllib.request, with secrets in a sensitive header (some with a trailing newline, so the
client raises with the value in its message), a sensitive query parameter, the URL's
user-info, or a JSON (at any depth), XML, form, multipart or plain-text body echoed back as
the response. Searched: every log line (function, extension, platform), the telemetry, the
file sink, what the HTTP sink received, and the viewer's text and HTML renderings of the
recaps. Every secret starts with MARKER, so a leak is a plain substring."""

from __future__ import annotations

import base64
import json
import string
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rel_support import FUNCTIONS, Figures, Receiver, free_port, layer_env, recaps_in

from httprecap.demo.upstream import UpstreamServer
from httprecap.sandbox import FunctionConfig, Sandbox
from httprecap.view.report_html import render_html
from httprecap.view.text import render_recaps

pytestmark = pytest.mark.e2e

MARKER = "zqLEAK"
EXAMPLES = 10  # invocations; each carries CASES calls, most with several secrets
CASES = 8
CLIENTS = ("requests", "urllib3", "httpx", "http.client", "urllib")

secrets = st.text(string.ascii_letters + string.digits, min_size=12, max_size=20).map(
    lambda tail: MARKER + tail)
filler = st.text(string.ascii_lowercase, min_size=1, max_size=6).filter(
    lambda name: not any(word in name for word in ("key", "pass", "sig", "code", "sas", "otp")))
sensitive_names = st.sampled_from([
    "token", "access_token", "api_key", "apiKey", "client_secret", "password", "db_pass",
    "X-Amz-Signature", "SessionToken", "SecretAccessKey", "credentials", "auth", "sig"])
header_names = st.sampled_from(["Authorization", "X-Api-Key", "Cookie", "X-Auth-Token",
                                "Proxy-Authorization", "X-Secret", "X-Session-Id"])


def _json_document(name: str, secret: str, depth: int, pad: str) -> str:
    value: Any = {name: secret}
    for level in range(depth):
        value = {pad: level, "items": [value]} if level % 2 else [value, {pad: level}]
    return json.dumps(value)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, str]:
    """(content type, body) holding a secret under a sensitive name."""
    name, secret, pad = draw(sensitive_names), draw(secrets), draw(filler)
    boundary = "b0undary" + draw(filler)
    return draw(st.sampled_from([
        ("application/json", _json_document(name, secret, draw(st.integers(0, 4)), pad)),
        ("application/json", json.dumps({pad: 1, "credentials": {name: [secret]}})),
        ("text/xml", f"<r><{pad}>1</{pad}><Credentials><{name}>{secret}</{name}></Credentials>"
                     f"<{pad} {name}=\"{secret}\"/></r>"),
        ("application/x-www-form-urlencoded", f"{pad}=1&{name}={secret}"),
        (f"multipart/form-data; boundary={boundary}",
         f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{secret}\r\n"
         f"--{boundary}--\r\n"),
        ("text/plain", f"{pad}=1\n{name}={secret}\n{name}: {secret}\n"),
    ]))


@st.composite
def calls(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """One call of the handler's event, and the secrets outside its body (and what clients
    derive from them: Basic auth from user-info) it carries; a body's start with MARKER."""
    carried: list[str] = []

    def secret() -> str:
        value = draw(secrets)
        carried.append(value)
        return value

    place = draw(st.sampled_from(["header", "refused header", "query", "userinfo", "body",
                                  "closed port"]))
    headers: list[tuple[str, str]] = [("Accept", "*/*")]
    url, body, method = "{upstream}/fast", None, "GET"
    if place in ("header", "refused header"):
        ending = "\n" if place == "refused header" else ""
        scheme = draw(st.sampled_from(["", "Bearer ", "Basic "]))
        headers.append((draw(header_names), f"{scheme}{secret()}{ending}"))
    elif place == "query":
        url += f"?{draw(filler)}=1&{draw(sensitive_names)}={secret()}"
    elif place == "userinfo":
        user_secret = secret()
        carried.append(base64.b64encode(f"robot:{user_secret}".encode()).decode())
        url = f"http://robot:{user_secret}@{{authority}}/fast"
    elif place == "body":
        content_type, body = draw(bodies())
        url, method = "{upstream}/echo", "POST"
        headers.append(("Content-Type", content_type))
    else:
        url = f"{{closed}}/callback?{draw(sensitive_names)}={secret()}"
    return {"client": draw(st.sampled_from(CLIENTS)), "method": method, "url": url,
            "headers": headers, "body": body}, carried


class World:
    """The sandbox and everything its layer writes to, alive for the module."""

    def __init__(self, sandbox: Sandbox, upstream: UpstreamServer, file_sink: Path,
                 receiver: Receiver, setting_secrets: list[str]) -> None:
        self.sandbox, self.upstream, self.file_sink = sandbox, upstream, file_sink
        self.receiver, self.setting_secrets = receiver, setting_secrets
        self.closed = f"http://127.0.0.1:{free_port()}"
        self.invocations = 0

    def event(self, cases: list[dict[str, Any]]) -> dict[str, Any]:
        authority = self.upstream.url.split("://", 1)[1]
        places = {"{upstream}": self.upstream.url, "{closed}": self.closed,
                  "{authority}": authority}
        for case in cases:
            for placeholder, value in places.items():
                case["url"] = case["url"].replace(placeholder, value)
        return {"cases": cases}

    def recap_of(self, request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for recap in recaps_in(self.file_sink):
                if recap.get("requestId") == request_id and recap.get("phase") == "invoke":
                    return recap
            time.sleep(0.05)
        raise AssertionError(f"no recap for {request_id}")

    def outputs(self, recaps: list[dict[str, Any]]) -> dict[str, str]:
        """Everything written so far, by where: logs, telemetry, sinks, the viewer."""
        found: dict[str, str] = {}
        for line in self.sandbox.logs:
            found[f"log:{line.source}"] = found.get(f"log:{line.source}", "") + line.text + "\n"
        found["telemetry"] = json.dumps(self.sandbox.telemetry)
        found["sink:file"] = self.file_sink.read_text()
        found["sink:http"] = b"".join(self.receiver.delivered).decode()
        found["view:text"] = render_recaps(recaps)
        found["view:html"] = render_html(recaps)
        return found


@pytest.fixture(scope="module")
def world(layer_zip: Path, upstream: UpstreamServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # httprecap's own settings hold secrets too: they must not reach a log.
    setting_secrets = [f"{MARKER}{uuid.uuid4().hex[:16]}" for _ in range(4)]
    file_sink = tmp_path_factory.mktemp("secrets-property") / "recaps.jsonl"
    with Receiver().start() as receiver, Receiver().start() as keyed:
        sinks = ["stdout", f"file://{file_sink}", receiver.url,
                 f"http://robot:{setting_secrets[0]}@127.0.0.1:{keyed.port}/recaps"
                 f"?api_key={setting_secrets[1]}",
                 f"http://robot:{setting_secrets[2]}@127.0.0.1:{free_port()}/down"]
        env = layer_env(HTTPRECAP_SINKS=",".join(sinks),
                        HTTPRECAP_HTTP_HEADERS=f"Authorization: Bearer {setting_secrets[3]}",
                        HTTPRECAP_CAPTURE_HEADERS="1", HTTPRECAP_CAPTURE_BODIES="1")
        config = FunctionConfig(code_dir=FUNCTIONS / "secrets_property", handler="app.handler",
                                layers=[layer_zip], env=env, timeout_s=20)
        with Sandbox(config) as sandbox:
            yield World(sandbox, upstream, file_sink, receiver, setting_secrets)


@settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(st.lists(calls(), min_size=CASES, max_size=CASES))
def test_no_generated_secret_appears_in_any_output(world: World, figures: Figures,
                                                   generated: list[tuple[dict[str, Any],
                                                                         list[str]]]) -> None:
    cases = [case for case, _ in generated]
    needles = [needle for _, carried in generated for needle in carried]
    result = world.sandbox.invoke(world.event(cases))
    assert result.ok, result.payload
    recap = world.recap_of(result.request_id)
    # Capture was on: the calls are there with their headers (a client that refuses a header
    # or a URL before sending leaves no call).
    assert any(call.get("requestHeaders") for call in recap["calls"]), recap["calls"]
    outputs = world.outputs([recap])
    leaked = {needle: [where for where, text in outputs.items() if needle in text]
              for needle in [*needles, *world.setting_secrets]}
    leaked = {needle: where for needle, where in leaked.items() if where}
    world.invocations += 1
    figures.record(f"secrets-property-{world.invocations}", secrets=len(needles),
                   calls=len(recap["calls"]), outputsSearched=sorted(outputs), leaked=leaked)
    assert leaked == {}
    assert not any(MARKER in text for text in outputs.values())
