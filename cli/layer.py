"""`httprecap layer build|publish`: make the layer zip, and publish it with boto3 (dev-time)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from httprecap.errors import UsageError

DEFAULT_ZIP = Path("dist/httprecap-layer.zip")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "layer", help="build or publish the Lambda layer",
        description="Build the httprecap Lambda layer zip, or publish it as a layer version.")
    parser.set_defaults(func=execute, layer_command=None)
    commands = parser.add_subparsers(dest="layer_command", metavar="{build,publish}")
    _register_build(commands)
    _register_publish(commands)


def _register_build(commands: Any) -> None:
    build = commands.add_parser(
        "build", help="build the layer zip (deterministic)",
        description="Build the layer zip: the loaders, httprecap's runtime code, wrapt's C "
        "module for Python 3.10-3.14 and bytecode for every Python 3.10+ on this machine.")
    build.add_argument("--out", type=Path, default=DEFAULT_ZIP,
                       help=f"where to write the zip (default {DEFAULT_ZIP})")
    build.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64",
                       help="Lambda architecture (default x86_64)")


def _register_publish(commands: Any) -> None:
    publish = commands.add_parser(
        "publish", help="publish the zip as a Lambda layer version (boto3)",
        description="Publish the layer zip with Lambda's PublishLayerVersion and print the "
        "LayerVersionArn. Credentials, region and AWS_ENDPOINT_URL come from boto3's usual "
        "sources.")
    publish.add_argument("--name", required=True, help="layer name, e.g. httprecap")
    publish.add_argument("--zip", type=Path, default=DEFAULT_ZIP,
                         help=f"the layer zip (default {DEFAULT_ZIP})")
    publish.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION)")
    publish.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64",
                         help="compatible architecture (default x86_64)")
    publish.add_argument("--public", action="store_true",
                         help="let every AWS account use this layer version")


def execute(args: argparse.Namespace) -> int:
    if args.layer_command == "build":
        return _build(args)
    if args.layer_command == "publish":
        return _publish(args)
    raise UsageError("say what to do: `httprecap layer build` or `httprecap layer publish`")


def _build(args: argparse.Namespace) -> int:
    from httprecap.layer.build import SIZE_BUDGET, build_layer

    result = build_layer(args.out, arch=args.arch)
    print(result.path)
    over = "  OVER BUDGET" if result.size > SIZE_BUDGET else ""
    print(f"  size     {result.size} bytes (budget {SIZE_BUDGET}){over}")
    print(f"  sha256   {result.sha256}")
    print(f"  arch     {result.arch}")
    print(f"  wrapt    C module for cp{', cp'.join(result.wrapt_tags)}")
    bytecode = ", ".join(result.bytecode_versions) or "none (no Python 3.10+ found)"
    print(f"  bytecode {bytecode}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from httprecap.layer.publish import publish_layer

    published = publish_layer(args.name, args.zip, args.arch, args.region, args.public)
    print(published.layer_version_arn)
    return 0
