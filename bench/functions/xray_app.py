"""Bench function under the AWS X-Ray SDK: patches requests and botocore at import, as its
documentation says, then serves `app.handler` (runs in the sandbox's runtime process)."""

from aws_xray_sdk.core import patch

patch(["requests", "botocore"])

from app import handler  # noqa: E402  (after patching, so the session is instrumented)

__all__ = ["handler"]
