"""The control configuration: a layer whose only content is an empty external extension
(dev-time; its extension runs in the sandbox as its own process).

It registers for INVOKE and SHUTDOWN and does nothing but ask for the next event, in the
same kind of isolated interpreter as httprecap's extension. Next to (a), it shows what any
external extension costs in this sandbox on one CPU: the interpreter's start-up in the init,
and per invocation the INVOKE delivered to a second process that wakes beside the runtime.
What httprecap adds beyond it is httprecap's own.
"""

from __future__ import annotations

from pathlib import Path

NAME = "noop"
LAUNCHER = r"""#!/bin/sh
# An external extension that does nothing: register, then next, next, ... until SHUTDOWN.
# ("$0" only puts this file's path on the command line, where the benchmark looks.)
exec python3 -I -S -c '
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
api = http.client.HTTPConnection(host, int(port))
api.request("POST", "/2020-01-01/extension/register",
            body=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}),
            headers={"Lambda-Extension-Name": "noop"})
reply = api.getresponse()
reply.read()
identifier = reply.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next",
                headers={"Lambda-Extension-Identifier": identifier})
    if json.loads(api.getresponse().read()).get("eventType") == "SHUTDOWN":
        break
' "$0"
"""


def build(directory: Path) -> Path:
    """Write the layer directory (extensions/noop) and return it."""
    extensions = directory / "extensions"
    extensions.mkdir(parents=True, exist_ok=True)
    launcher = extensions / NAME
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    return directory
