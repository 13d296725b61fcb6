"""A local AWS endpoint: moto's server mode on loopback (dev-time: demo and tests).

moto is imported only here, when the demo or a test asks for it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIDHTTPRECAPDEMO",
    "AWS_SECRET_ACCESS_KEY": "httprecap-demo-secret",
    "AWS_SESSION_TOKEN": "httprecap-demo-session-token",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoServer:
    """moto in a thread on 127.0.0.1 and a free port; `url` is the AWS_ENDPOINT_URL to use."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def __enter__(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.stop()

    def environment(self) -> dict[str, str]:
        """What a function or an extension needs in its environment to reach this endpoint."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.url}
