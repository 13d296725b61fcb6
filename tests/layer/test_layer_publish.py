"""Layer publish: `httprecap layer publish` against moto's server mode on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from httprecap.cli.main import main
from httprecap.demo.aws import MotoServer
from httprecap.layer.build import LayerBuild


def _lambda(moto: MotoServer) -> Any:
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=moto.url)


def _publish(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["layer", "publish", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_publish_prints_the_layer_version_arn(aws_env: MotoServer, layer_build: LayerBuild,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _publish(capsys, "--name", "httprecap-a", "--zip", str(layer_build.path))
    assert code == 0
    arn = out.strip()
    assert arn.startswith("arn:aws:lambda:us-east-1:") and arn.endswith(":layer:httprecap-a:1")


def test_published_version_declares_runtimes_architecture_and_licence(
        aws_env: MotoServer, layer_build: LayerBuild, capsys: pytest.CaptureFixture[str]) -> None:
    _publish(capsys, "--name", "httprecap-b", "--zip", str(layer_build.path), "--arch", "arm64")
    version = _lambda(aws_env).get_layer_version(LayerName="httprecap-b", VersionNumber=1)
    assert version["CompatibleRuntimes"] == [f"python3.{minor}" for minor in range(10, 15)]
    assert version["CompatibleArchitectures"] == ["arm64"]
    assert version["LicenseInfo"] == "Apache-2.0"
    assert version["Description"].startswith("httprecap")


def test_each_publish_makes_a_new_version(aws_env: MotoServer, layer_build: LayerBuild,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _publish(capsys, "--name", "httprecap-c", "--zip", str(layer_build.path))
    _, out, _ = _publish(capsys, "--name", "httprecap-c", "--zip", str(layer_build.path))
    assert out.strip().endswith(":layer:httprecap-c:2")


def test_public_grants_get_layer_version_to_everyone(
        aws_env: MotoServer, layer_build: LayerBuild, capsys: pytest.CaptureFixture[str]) -> None:
    _publish(capsys, "--name", "httprecap-d", "--zip", str(layer_build.path), "--public")
    policy = _lambda(aws_env).get_layer_version_policy(LayerName="httprecap-d", VersionNumber=1)
    [statement] = json.loads(policy["Policy"])["Statement"]
    assert statement["Principal"] == "*"
    assert statement["Action"] == "lambda:GetLayerVersion"


def test_missing_credentials_are_one_line_and_exit_1(
        aws_env: MotoServer, layer_build: LayerBuild, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance role
    code, out, err = _publish(capsys, "--name", "x", "--zip", str(layer_build.path))
    assert (code, out) == (1, "")
    assert err == "httprecap: error: no AWS credentials found (environment, profile or role)\n"


@pytest.mark.parametrize("content", [b"not a zip", None])
def test_a_bad_zip_is_one_line_and_exit_2(aws_env: MotoServer, tmp_path: Path,
                                          content: bytes | None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "layer.zip"
    if content is not None:
        path.write_bytes(content)
    code, _, err = _publish(capsys, "--name", "x", "--zip", str(path))
    assert code == 2
    assert err.startswith(f"httprecap: error: {path}") or "cannot read" in err
    assert err.count("\n") == 1


def test_an_unreachable_endpoint_is_one_line_and_exit_1(
        aws_env: MotoServer, layer_build: LayerBuild, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, _, err = _publish(capsys, "--name", "x", "--zip", str(layer_build.path))
    assert code == 1
    assert err.startswith("httprecap: error: AWS call failed: Could not connect")
    assert err.count("\n") == 1


def test_a_refused_request_is_one_line_and_exit_1(
        aws_env: MotoServer, layer_build: LayerBuild, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _publish(capsys, "--name", "", "--zip", str(layer_build.path))
    assert code == 1
    assert err.startswith("httprecap: error: AWS call failed: Parameter validation failed: "
                          "Invalid length for parameter LayerName")
    assert err.count("\n") == 1
