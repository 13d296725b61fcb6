"""Ship: boto3 and batching for the Kinesis and Firehose sinks, loaded lazily (extension process).

The launcher starts Python with `-S`, so site-packages is not on sys.path: start-up stays fast
and nothing the function installed can leak in. boto3 is the one exception: when an AWS sink
needs it, the interpreter's own site-packages (and /var/runtime, where Lambda's Python
runtimes keep their boto3) are added, once, on the sink's worker thread.
"""

from __future__ import annotations

import os
import threading

from httprecap.external.ship.sink_base import SinkError

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from httprecap.external.ship.sink_base import Entry

RUNTIME_DIR = "/var/runtime"
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
_lock = threading.Lock()


def import_boto3() -> Any:
    with _lock:
        try:
            import boto3
        except ImportError:
            _add_site_packages()
            import boto3
    return boto3


def _add_site_packages() -> None:
    import site

    for directory in [*site.getsitepackages(), RUNTIME_DIR]:
        if os.path.isdir(directory):
            site.addsitedir(directory)


def client(service: str, environ: Mapping[str, str]) -> Any:
    """A boto3 client configured from `environ`: region, credentials, endpoint override.

    AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL point it elsewhere (moto in the tests).
    botocore does not retry: a failed batch stays queued and the shipper retries it later.
    """
    boto3 = import_boto3()
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"))
    endpoint = (environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
                or environ.get("AWS_ENDPOINT_URL") or None)
    config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                    retries={"total_max_attempts": 1, "mode": "standard"})
    return session.client(service, endpoint_url=endpoint, config=config)


def take_within(datas: list[bytes], limit: int) -> int:
    """How many leading records fit in one request of at most `limit` bytes (at least one)."""
    total = 0
    for index, data in enumerate(datas):
        total += len(data)
        if total > limit and index:
            return index
    return len(datas)


def not_delivered(name: str, entries: list[Entry], count: int,
                  results: list[dict[str, Any]]) -> list[Entry]:
    """Entries to keep after a batch call that sent the first `count`: refused ones and the rest.

    Raises SinkError when every record sent was refused (the stream is down, not one record).
    """
    refused = [entry for entry, result in zip(entries[:count], results, strict=False)
               if result.get("ErrorCode")]
    if count and len(refused) == count:
        raise SinkError(f"{name}: every record refused ({results[0].get('ErrorCode')})")
    return refused + entries[count:]
