"""The four configurations every whole-invocation benchmark compares (dev-time).

(a) `none`: the function alone; (b) `httprecap`: the built layer zip with its exec wrapper;
(c) `otel`: the OpenTelemetry Lambda layer's equivalent (see otel_layer.py); (d) `xray`: the
AWS X-Ray SDK patching requests and botocore at the handler's import, sending to a loopback
UDP port that plays the daemon (invokes carry a trace id so the SDK has a facade segment).
(e) `control`: an external extension that does nothing (control_layer.py), to tell what any
extension costs in this sandbox from what httprecap adds. All run the same handler
(functions/app.py) in the same sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import control_layer, otel_layer
from httprecap.sandbox import FunctionConfig, Sandbox
from httprecap.sandbox.ports import free_port

FUNCTIONS = Path(__file__).resolve().parent / "functions"
NAMES = ("none", "httprecap", "otel", "xray", "control")
LABELS = {"none": "(a) no layer", "httprecap": "(b) httprecap", "otel": "(c) OpenTelemetry",
          "xray": "(d) X-Ray SDK", "control": "(e) empty extension (control)"}
TRACE_ID = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"
TIMEOUT_S = 300.0  # the 10,000-call invoke takes seconds (a minute on a loaded machine)
MEMORY_MB = 1024
EXTENSION_LINES = 5  # told of a failed invoke
RECAP_PREFIX = '{"type":"httprecap.recap"'  # how a recap line from the stdout sink begins


@dataclass(frozen=True)
class Setup:
    """One configuration: how to build its sandbox."""

    name: str
    handler: str
    layers: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS[self.name]

    def sandbox(self, **env: str) -> Sandbox:
        """A new (not yet initialised) sandbox; extra variables on top of the setup's."""
        variables = {**self.env, **_private_ports(self.name), **env}
        config = FunctionConfig(code_dir=FUNCTIONS, handler=self.handler,
                                layers=list(self.layers), env=variables,
                                timeout_s=TIMEOUT_S, memory_mb=MEMORY_MB,
                                function_name=f"bench-{self.name}")
        return Sandbox(config)


def prepare(work: Path, ports: Mapping[str, int],
            layer_zip: Path | None = None) -> dict[str, Setup]:
    """Build the httprecap zip and the OpenTelemetry layer under `work`; every Setup by name."""
    if layer_zip is None:
        from httprecap.layer.build import build_layer

        layer_zip = build_layer(work / "httprecap-layer.zip").path
    otel_dir = otel_layer.build(work / "otel-layer")
    return {
        "none": Setup("none", "app.handler"),
        "httprecap": Setup("httprecap", "app.handler", (layer_zip,),
                           {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/httprecap-wrapper"}),
        "otel": Setup("otel", "app.handler", (otel_dir,), otel_layer.env(ports["otlp"])),
        "xray": Setup("xray", "xray_app.handler", (),
                      {"AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{ports['xray']}"}),
        "control": Setup("control", "app.handler", (control_layer.build(work / "control"),)),
    }


def invoke_failed(name: str, box: Sandbox, payload: bytes) -> RuntimeError:
    """An invoke that failed, with what the extensions printed last: why it failed is there."""
    said = [line.text for line in box.logs if line.source == "extension"][-EXTENSION_LINES:]
    return RuntimeError(f"{name}: invoke failed: {payload!r}; the extensions printed last: "
                        f"{said or 'nothing'}")


def event(url: str, calls: int) -> dict[str, Any]:
    return {"url": url, "calls": calls}


def _private_ports(name: str) -> dict[str, str]:
    """httprecap's ports, fresh for each sandbox, so sandboxes alive together never collide."""
    if name != "httprecap":
        return {}
    return {"HTTPRECAP_PORT": str(free_port()), "HTTPRECAP_TELEMETRY_PORT": str(free_port())}
