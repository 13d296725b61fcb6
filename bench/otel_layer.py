"""The OpenTelemetry peer: a layer directory equivalent to the OpenTelemetry Lambda Python
layer, assembled at run time (dev-time; its files run in the sandbox's runtime process).

What the real layer (opentelemetry-lambda, python/src/otel) does, and so what this one does:
its exec wrapper `otel-instrument` puts the task root and the layer's python directory on
PYTHONPATH, sets resource attributes and the service name from the function's variables,
swaps `_HANDLER` for a shim (keeping the user's handler in `ORIG_HANDLER`) and runs
`python3 opentelemetry-instrument <runtime command>`, so the runtime process starts with
OpenTelemetry's auto-instrumentation `sitecustomize`: the distro configures a TracerProvider
with a BatchSpanProcessor and the OTLP/HTTP exporter, and every installed instrumentor is
applied (here: requests, urllib3, botocore). The shim instruments the handler with the
aws-lambda instrumentor, which force-flushes the span processor before the handler returns
(so spans leave before the freeze, and inside the invocation's time).

The OpenTelemetry packages are not copied into the layer: the sandbox's interpreter already
has them in its site-packages (the runtime's `python3` is the benchmark's venv).
"""

from __future__ import annotations

from pathlib import Path

WRAPPER = r"""#!/bin/sh
# Plays the OpenTelemetry Lambda Python layer's exec wrapper (otel-instrument).
root=${0%/*}
export PYTHONPATH="$LAMBDA_TASK_ROOT:$root/python:$LAMBDA_RUNTIME_DIR${PYTHONPATH:+:$PYTHONPATH}"
export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-$AWS_LAMBDA_FUNCTION_NAME}"
attributes="cloud.region=$AWS_REGION,cloud.provider=aws,faas.name=$AWS_LAMBDA_FUNCTION_NAME"
attributes="$attributes,faas.version=$AWS_LAMBDA_FUNCTION_VERSION"
export OTEL_RESOURCE_ATTRIBUTES="$attributes${OTEL_RESOURCE_ATTRIBUTES:+,$OTEL_RESOURCE_ATTRIBUTES}"
export ORIG_HANDLER="$_HANDLER"
export _HANDLER=otel_shim.lambda_handler
exec python3 "$(command -v opentelemetry-instrument)" "$@"
"""

SHIM = '''"""Plays the OpenTelemetry layer's handler shim (runs in the runtime process)."""

import os
from importlib import import_module

from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

# Wraps ORIG_HANDLER's function in its module; importing it afterwards gets the wrapped one.
AwsLambdaInstrumentor().instrument()

_module, _, _name = os.environ["ORIG_HANDLER"].replace("/", ".").rpartition(".")
lambda_handler = getattr(import_module(_module), _name)
'''

WRAPPER_PATH = "/opt/otel-instrument"


def env(otlp_port: int) -> dict[str, str]:
    """The function variables a user of the layer sets: the exporter points at our receiver."""
    return {
        "AWS_LAMBDA_EXEC_WRAPPER": WRAPPER_PATH,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        # The shim instruments the handler itself; aiobotocore is not used.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "aws-lambda,aiobotocore",
    }


def build(directory: Path) -> Path:
    """Write the layer directory (otel-instrument + python/otel_shim.py) and return it."""
    (directory / "python").mkdir(parents=True, exist_ok=True)
    wrapper = directory / "otel-instrument"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    (directory / "python" / "otel_shim.py").write_text(SHIM)
    return directory
