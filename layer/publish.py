"""Publish: uploads the layer zip as a new Lambda layer version with boto3 (dev-time).

The endpoint is boto3's own: `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_LAMBDA`) points it at
another one, which is how the tests reach a moto server on loopback.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httprecap.errors import UsageError
from httprecap.layer import aws

COMPATIBLE_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
ARCHITECTURES = ("x86_64", "arm64")
LICENSE_INFO = "Apache-2.0"
DESCRIPTION = "httprecap: a recap of every outbound HTTP call of each invocation"
# Lambda's limit for a layer uploaded inline (larger ones go through S3).
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024


@dataclass(frozen=True)
class PublishedLayer:
    """The layer version that `publish_layer` created."""

    layer_version_arn: str
    version: int
    public: bool


def publish_layer(name: str, zip_path: Path, arch: str, region: str | None = None,
                  public: bool = False) -> PublishedLayer:
    """Publishes `zip_path` as a new version of layer `name`; `public` grants it to everyone."""
    content = read_layer_zip(zip_path)
    client = _lambda_client(region)
    response = aws.call(client.publish_layer_version, LayerName=name, Description=DESCRIPTION,
                     Content={"ZipFile": content}, LicenseInfo=LICENSE_INFO,
                     CompatibleRuntimes=list(COMPATIBLE_RUNTIMES),
                     CompatibleArchitectures=[check_arch(arch)])
    version = int(response["Version"])
    if public:
        aws.call(client.add_layer_version_permission, LayerName=name, VersionNumber=version,
              StatementId="httprecap-public", Action="lambda:GetLayerVersion", Principal="*")
    return PublishedLayer(str(response["LayerVersionArn"]), version, public)


def check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise UsageError(f"unknown architecture {arch!r}: use x86_64 or arm64")
    return arch


def read_layer_zip(zip_path: Path) -> bytes:
    """The zip's bytes, after checking it is a layer zip at all (not a typo'd path)."""
    try:
        content = zip_path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {zip_path}: {exc.strerror or exc}; "
                         "run `httprecap layer build` first") from None
    if len(content) > DIRECT_UPLOAD_LIMIT:
        raise UsageError(f"{zip_path} is over Lambda's 50 MB direct-upload limit")
    if not zipfile.is_zipfile(zip_path):
        raise UsageError(f"{zip_path} is not a zip file")
    with zipfile.ZipFile(zip_path) as archive:
        if "httprecap-wrapper" not in archive.namelist():
            raise UsageError(f"{zip_path} is not an httprecap layer (no httprecap-wrapper)")
    return content


def _lambda_client(region: str | None) -> Any:
    return aws.client("lambda", region)
