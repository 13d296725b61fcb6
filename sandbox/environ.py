"""Environment variables the sandbox gives the runtime and the extensions (dev-time process).

Mirrors Lambda's split (docs/PROTOCOL.md, 2.5): extensions get the function's variables,
the credentials and the platform variables; the runtime additionally gets the runtime-only
ones (`_HANDLER`, `LAMBDA_TASK_ROOT`, log group/stream, X-Ray, `AWS_EXECUTION_ENV`). With the JSON
log format both get AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL (the application log level),
as Lambda Managed Instances' platform code gives them. Nothing
is inherited from the caller's environment except what the host needs to run programs.
In Lambda Managed Instances mode the runtime also gets `AWS_LAMBDA_MAX_CONCURRENCY` and
`_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET` (RAPID LMI's runtime-only extras); the extensions
get neither.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from httprecap.errors import UsageError
from httprecap.sandbox.config import FunctionConfig
from httprecap.sandbox.opt import map_paths

# Values the sandbox must own for the environment to work at all.
PROTECTED = frozenset({
    "AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_LAMBDA_TELEMETRY_LOG_FD",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_MAX_CONCURRENCY",
    "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
})

# Obviously fake credentials, so nothing can mistake them for real ones.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIAHTTPRECAPSANDBOX",
    "AWS_SECRET_ACCESS_KEY": "httprecap-sandbox-secret-access-key",
    "AWS_SESSION_TOKEN": "httprecap-sandbox-session-token",
}

# What a host needs to run programs; anything else of the caller's environment stays out.
HOST_ESSENTIALS = ("SYSTEMROOT",)


@dataclass(frozen=True)
class Places:
    """Where the sandbox keeps what Lambda keeps in /opt, /var/runtime and /var/task."""

    opt: Path
    runtime_dir: Path
    task: Path
    # Lambda Managed Instances: the Unix socket the runtime's workers send stdout/stderr to.
    log_socket: Path | None = None


def log_stream_name() -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime())
    return f"{day}/[$LATEST]{secrets.token_hex(16)}"


def function_env(config: FunctionConfig, places: Places) -> dict[str, str]:
    """The user's variables with /opt and /var/task mapped; protected names are refused."""
    clash = sorted(PROTECTED.intersection(config.env))
    if clash:
        raise UsageError(f"environment variable {clash[0]} is reserved by the sandbox")
    return {key: map_paths(value, places.opt, places.task) for key, value in config.env.items()}


def _host_env(config: FunctionConfig, places: Places) -> dict[str, str]:
    python_dir = str(Path(config.python).parent)
    env = {
        # /opt/bin last, as Lambda's PATH has it; the interpreter's dir first so `python3` in a
        # layer's script is the sandbox's interpreter (it plays /var/lang/bin).
        "PATH": f"{python_dir}:/usr/local/bin:/usr/bin:/bin:{places.opt}/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # Lambda's LD_LIBRARY_PATH ends with /var/task/lib and /opt/lib: layers rely on it.
        "LD_LIBRARY_PATH": ":".join(
            part for part in (os.environ.get("LD_LIBRARY_PATH", ""), f"{places.task}/lib",
                              f"{places.opt}/lib") if part),
    }
    for key in HOST_ESSENTIALS:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def platform_env(config: FunctionConfig, api: str) -> dict[str, str]:
    env = {
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": config.init_type,
        "AWS_LAMBDA_RUNTIME_API": api,
    }
    logging = config.logging
    if logging.json:
        # What awslambdaric reads to log JSON at the function's application log level.
        env["AWS_LAMBDA_LOG_FORMAT"] = logging.log_format
        env["AWS_LAMBDA_LOG_LEVEL"] = logging.application_level
    return env


def extension_env(config: FunctionConfig, places: Places, api: str) -> dict[str, str]:
    """Function vars + credentials + platform vars, minus every `_`-prefixed name (RAPID)."""
    env = _host_env(config, places)
    env.update(CREDENTIALS)
    env.update(platform_env(config, api))
    env.update(function_env(config, places))
    return {key: value for key, value in env.items() if not key.startswith("_")}


def runtime_env(config: FunctionConfig, places: Places, api: str,
                log_stream: str) -> dict[str, str]:
    """The extension environment plus the runtime-only variables."""
    major, minor = config.python_version
    env = _host_env(config, places)
    env.update(CREDENTIALS)
    env.update(platform_env(config, api))
    env.update({
        "_HANDLER": config.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{major}.{minor}",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "LAMBDA_TASK_ROOT": str(places.task),
        "LAMBDA_RUNTIME_DIR": str(places.runtime_dir),
        # Lambda points these at its X-Ray daemon; loopback keeps any UDP segment local.
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
        "_AWS_XRAY_DAEMON_PORT": "2000",
    })
    if config.managed_instances:
        env.update(_managed_runtime_env(config, places))
    env.update(function_env(config, places))
    return env


def _managed_runtime_env(config: FunctionConfig, places: Places) -> dict[str, str]:
    """What the runtime gets only on Lambda Managed Instances (docs/PROTOCOL.md, 2.5 and 7)."""
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": str(config.max_concurrency)}
    if places.log_socket is not None:
        env["_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"] = str(places.log_socket)
    return env
