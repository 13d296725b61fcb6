"""Machine description for docs/BENCHMARKS.md: CPU, cores, memory, Python, versions (dev-time)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

PACKAGES = ("awslambdaric", "requests", "urllib3", "boto3", "botocore", "wrapt",
            "opentelemetry-sdk", "opentelemetry-instrumentation",
            "opentelemetry-instrumentation-requests", "opentelemetry-instrumentation-urllib3",
            "opentelemetry-instrumentation-botocore", "opentelemetry-instrumentation-aws-lambda",
            "opentelemetry-exporter-otlp-proto-http", "aws-xray-sdk")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return float("nan")


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "memory_gib": round(memory_gib(), 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": versions(),
    }
