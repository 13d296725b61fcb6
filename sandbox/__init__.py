"""The local Lambda sandbox: Runtime, Extensions and Telemetry APIs around the real awslambdaric.

Dev-time only: the stage of the demo and of the end-to-end tests. The public surface::

    from httprecap.sandbox import Sandbox, FunctionConfig, InvokeResult

    with Sandbox(FunctionConfig(code_dir=Path("examples/hello"), handler="app.handler")) as box:
        result = box.invoke({"name": "x"})

See docs/SANDBOX.md for what it reproduces and what it does not.
"""

from __future__ import annotations

from httprecap.sandbox.config import FunctionConfig
from httprecap.sandbox.logs import LogLine
from httprecap.sandbox.results import InvokeResponse, InvokeResult
from httprecap.sandbox.sandbox import Sandbox

__all__ = ["FunctionConfig", "InvokeResponse", "InvokeResult", "LogLine", "Sandbox"]
