"""Secrets never leave through httprecap. A handler sends a distinct secret in every place a
secret can hide; every sink at once (stdout, EMF, file, HTTP, OTLP) and every log line and
telemetry record of the sandbox are searched for each of them, with default settings and
with header and body capture turned on (the always-masked ones must still never appear)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from rel_support import Figures, Receiver, free_port, invoke_recaps, recaps_in, sandbox_for

from httprecap.demo.aws import MotoServer
from httprecap.demo.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

PLACES = ("bearer", "cookie", "apiKeyHeader", "userinfo", "token", "apiKey", "jsonPassword",
          "formSecret", "errorToken", "sessionToken", "accessKeyId")
CALLS = 9  # the calls the handler makes (see functions/secrets/app.py)


def _secrets() -> dict[str, str]:
    return {place: f"S3cr3t{place}{uuid.uuid4().hex[:16]}" for place in PLACES}


@pytest.fixture(scope="module")
def bucket(moto: MotoServer) -> str:
    client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")
    client.create_bucket(Bucket="httprecap-secrets")
    return "httprecap-secrets"


class Leaks:
    """Everything httprecap or the sandbox wrote, by where it was found."""

    def __init__(self) -> None:
        self.outputs: dict[str, str] = {}

    def add(self, where: str, text: str) -> None:
        self.outputs[where] = self.outputs.get(where, "") + text

    def find(self, needle: str) -> list[str]:
        return [where for where, text in self.outputs.items() if needle in text]


def _run(layer: Path, upstream: UpstreamServer, moto: MotoServer, bucket: str,
         tmp_path: Path, **capture: str) -> tuple[Leaks, dict[str, str], list[dict[str, Any]]]:
    secrets = _secrets()
    file_sink = tmp_path / "recaps.jsonl"
    with Receiver().start() as http_receiver, Receiver().start() as otlp_receiver:
        sinks = ["stdout", "emf", f"file://{file_sink}", http_receiver.url,
                 f"otlp+http://127.0.0.1:{otlp_receiver.port}"]
        env = {**moto.environment(),
               "AWS_ACCESS_KEY_ID": secrets["accessKeyId"],
               "AWS_SESSION_TOKEN": secrets["sessionToken"],
               "AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper",
               "HTTPRECAP_PORT": str(free_port()), "HTTPRECAP_TELEMETRY_PORT": str(free_port()),
               "HTTPRECAP_SINKS": ",".join(sinks), "UPSTREAM_URL": upstream.url,
               "CLOSED_URL": f"http://127.0.0.1:{free_port()}", "BUCKET": bucket, **capture}
        with sandbox_for("secrets", [layer], env, timeout_s=20) as sandbox:
            result = sandbox.invoke({"secrets": {k: v for k, v in secrets.items()
                                                 if k not in ("accessKeyId", "sessionToken")}})
            assert result.ok, result.payload
        leaks = Leaks()
        for line in sandbox.logs:
            leaks.add(f"log:{line.source}", line.text + "\n")
        leaks.add("telemetry", json.dumps(sandbox.telemetry))
        leaks.add("sink:file", file_sink.read_text())
        leaks.add("sink:http", b"".join(http_receiver.delivered).decode())
        leaks.add("sink:otlp", b"".join(otlp_receiver.delivered).decode())
    derived = _derived(json.loads(result.payload), secrets)
    recaps = list(invoke_recaps(recaps_in(file_sink)).values())
    return leaks, {**secrets, **derived}, recaps


def _derived(payload: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The secrets AWS derived from ours: the presigned URL's signature and credential, the
    SigV4 header's signature, and the user-info as requests sends it (Basic auth)."""
    v4, v2 = (parse_qs(urlsplit(url).query) for url in payload["presigned"])
    sigv4_signature = payload["sigv4"].rsplit("Signature=", 1)[1]
    basic = base64.b64encode(f"robot:{secrets['userinfo']}".encode()).decode()
    return {"presignedSignature": v4["X-Amz-Signature"][0],
            "presignedCredential": unquote(v4["X-Amz-Credential"][0]),
            "presignedSecurityToken": v4["X-Amz-Security-Token"][0],
            "presignedV2Signature": v2["Signature"][0],
            "sigv4Signature": sigv4_signature, "basicAuth": basic}


@pytest.fixture(scope="module")
def default_run(layer_zip: Path, upstream: UpstreamServer, moto: MotoServer, bucket: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    yield _run(layer_zip, upstream, moto, bucket, tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def capture_run(layer_zip: Path, upstream: UpstreamServer, moto: MotoServer, bucket: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    yield _run(layer_zip, upstream, moto, bucket, tmp_path_factory.mktemp("capture"),
               HTTPRECAP_CAPTURE_HEADERS="1", HTTPRECAP_CAPTURE_BODIES="1")


def _leaked(leaks: Leaks, secrets: dict[str, str]) -> dict[str, list[str]]:
    return {name: found for name, value in secrets.items() if (found := leaks.find(value))}


def test_with_default_settings_no_secret_appears_in_any_sink_or_log(
        default_run: tuple[Any, ...], figures: Figures) -> None:
    leaks, secrets, recaps = default_run
    (recap,) = recaps
    figures.record("secrets-default", secrets=len(secrets), calls=len(recap["calls"]),
                   outputsSearched=sorted(leaks.outputs), leaked=_leaked(leaks, secrets))
    assert _leaked(leaks, secrets) == {}
    assert len(recap["calls"]) >= CALLS  # the calls that carried them were recorded
    assert all(leaks.outputs[f"sink:{name}"] for name in ("file", "http", "otlp"))


def test_with_header_and_body_capture_the_always_masked_secrets_still_never_appear(
        capture_run: tuple[Any, ...], figures: Figures) -> None:
    leaks, secrets, recaps = capture_run
    (recap,) = recaps
    figures.record("secrets-capture-on", secrets=len(secrets), calls=len(recap["calls"]),
                   outputsSearched=sorted(leaks.outputs), leaked=_leaked(leaks, secrets))
    assert _leaked(leaks, secrets) == {}
    # Capture really was on: the headers and bodies are there, their secrets masked.
    headers = [call.get("requestHeaders") or {} for call in recap["calls"]]
    assert any(h.get("Authorization") == "REDACTED" and h.get("Cookie") == "REDACTED"
               and h.get("X-Api-Key") == "REDACTED" for h in headers)
    bodies = [call.get("requestBody") or "" for call in recap["calls"]]
    assert any('"password": "REDACTED"' in body for body in bodies)
    assert any("client_secret=REDACTED" in body for body in bodies)


def test_the_error_that_echoed_the_url_is_kept_without_its_secret(
        default_run: tuple[Any, ...]) -> None:
    _, _, recaps = default_run
    (failed,) = [call for call in recaps[0]["calls"] if call["error"]]
    assert "token=REDACTED" in failed["url"]
    assert "/callback" in failed["error"]["message"] or failed["error"]["type"]
