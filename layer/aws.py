"""AWS access for the dev tools: a boto3 client, and AWS errors as one line (dev-time CLI).

Shared by `layer publish` and the viewer's CloudWatch source. boto3 is imported only when one
of them runs, so the rest of the command line starts without it. Credentials, region and
endpoint (`AWS_ENDPOINT_URL`) come from boto3's usual sources.
"""

from __future__ import annotations

from typing import Any

from httprecap.errors import HttprecapError, UsageError


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client, or one clear error when there is no region or no credentials."""
    import boto3
    import botocore.exceptions

    try:
        session: Any = boto3.session.Session(region_name=region)
        if session.region_name is None:
            raise UsageError("no AWS region: pass --region or set AWS_REGION")
        if session.get_credentials() is None:
            raise HttprecapError("no AWS credentials found (environment, profile or role)")
        return session.client(service)
    except botocore.exceptions.BotoCoreError as exc:
        raise HttprecapError(f"cannot create the {service} client: {one_line(exc)}") from None


def call(operation: Any, **params: Any) -> Any:
    """Runs one API call, turning AWS errors into one line for the command line."""
    import botocore.exceptions

    try:
        return operation(**params)
    except botocore.exceptions.ClientError as exc:
        raise HttprecapError(describe_client_error(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise HttprecapError(f"AWS call failed: {one_line(exc)}") from None


def describe_client_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    return (f"AWS refused {exc.operation_name}: {error.get('Code', '?')}: "
            f"{one_line(error.get('Message', exc))}")


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def one_line(text: object) -> str:
    return " ".join(str(text).split())
