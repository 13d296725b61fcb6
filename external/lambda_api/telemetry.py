"""Control plane: Telemetry API subscription and the listener it delivers to (extension process).

We subscribe to `platform` events only. They give the trace id (`platform.start`), and the
status of an invocation whose end-of-invocation hand-off never came (`platform.runtimeDone`,
`platform.report`). The recap never waits for them when the hand-off is there: Lambda buffers
telemetry for at least 25 ms, far longer than shipping takes.

How long Lambda may buffer them is chosen at subscription (`Mode.telemetry_buffering_ms`,
mode.py).
Each delivery wakes the extension beside the runtime, and with a short buffer one lands in
nearly every invocation of a busy function (its `platform.start`, or the previous one's
`runtimeDone` when the environment thaws). Where the function process's hand-off says when an
invocation ends, telemetry only adds detail, and Lambda's default second lets one delivery
carry many invocations.

Lambda delivers to `http://sandbox.localdomain:PORT/`; inside Lambda that name resolves to the
environment itself. Where it does not resolve (the local sandbox, which maps the name to
127.0.0.1 itself) we listen on loopback.
"""

from __future__ import annotations

import threading

from httprecap.external import log
from httprecap.external.http11 import Reply, Server, ServerLimits, ipv4_of
from httprecap.external.lambda_api.extensions import LambdaApiError

TYPE_CHECKING = False  # start-up budget: `typing` is for mypy only (see http11)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from httprecap.external.http11 import Request
    from httprecap.external.lambda_api.extensions import ExtensionsClient

    EventsCallback = Callable[[list[dict[str, Any]]], None]

API_VERSION = "2022-07-01"
SCHEMA_VERSION = "2022-12-13"
SANDBOX_HOST = "sandbox.localdomain"
MIN_BUFFERING_MS, MAX_BUFFERING_MS = 25, 30000  # the Telemetry API's bounds for timeoutMs
PROMPT_BUFFERING_MS = 25  # when telemetry is how we learn that an invocation ended
RELAXED_BUFFERING_MS = 1000  # when the hand-off says so (Lambda's default)
LOOPBACK = "127.0.0.1"
# Lambda may deliver up to 2 x maxBytes plus metadata in one POST.
MAX_DELIVERY_BYTES = 4 * 1024 * 1024


class HostLookup:
    """Resolves `sandbox.localdomain` in the background, so a slow resolver costs no start-up."""

    def __init__(self, name: str = SANDBOX_HOST) -> None:
        self._name = name
        self._address: str | None = None
        self._thread = threading.Thread(target=self._resolve, name="httprecap-lookup",
                                        daemon=True)

    def start(self) -> HostLookup:
        self._thread.start()
        return self

    def _resolve(self) -> None:
        try:
            self._address = ipv4_of(self._name)
        except OSError:
            return

    def address(self, wait: float) -> str:
        """The name's address if it resolved within `wait` seconds, else loopback."""
        self._thread.join(wait)
        return self._address or LOOPBACK

    def later(self, callback: Callable[[str], None], wait: float = 5.0) -> None:
        """Call `callback(address)` if the name resolves after all, within `wait` seconds."""
        def watch() -> None:
            self._thread.join(wait)
            if self._address and self._address != LOOPBACK:
                callback(self._address)

        threading.Thread(target=watch, name="httprecap-lookup-watch", daemon=True).start()


def subscription(port: int, schema: str = SCHEMA_VERSION,
                 buffering_ms: int = PROMPT_BUFFERING_MS) -> str:
    """The subscription's JSON, from a template: `json` is not loaded before the first
    /event/next (see lambda_api/extensions.py). `schema` is a date such as 2022-12-13."""
    if not schema.replace("-", "").isdigit():
        raise ValueError(f"not a schema version: {schema!r}")
    if not MIN_BUFFERING_MS <= buffering_ms <= MAX_BUFFERING_MS:
        raise ValueError(f"telemetry buffering {buffering_ms} ms is outside "
                         f"{MIN_BUFFERING_MS}..{MAX_BUFFERING_MS}")
    return (f'{{"schemaVersion":"{schema}","types":["platform"],'
            f'"buffering":{{"maxItems":1000,"maxBytes":262144,"timeoutMs":{buffering_ms}}},'
            f'"destination":{{"protocol":"HTTP","URI":"http://{SANDBOX_HOST}:{port}/"}}}}')


def subscribe(client: ExtensionsClient, port: int, schema: str = SCHEMA_VERSION,
              buffering_ms: int = PROMPT_BUFFERING_MS) -> bool:
    """Subscribe to platform telemetry; False where the platform does not offer it.

    AWS SAM local and other emulators answer 202 `Telemetry.NotSupported`: that is not an
    error, the extension simply works from the function process's hand-off alone.
    """
    response = client.call("PUT", f"/{API_VERSION}/telemetry",
                           subscription(port, schema, buffering_ms), timeout=5.0)
    if response.status == 200:
        return True
    if response.status == 202:
        log.info("the Telemetry API is not supported here; carrying on without it")
        return False
    raise LambdaApiError(f"telemetry subscription answered {response.status}: "
                         f"{response.body[:200].decode('utf-8', 'replace')}")


def _handler(on_events: EventsCallback) -> Callable[[Request], Reply]:
    def handle(request: Request) -> Reply:
        import json  # loaded by the warm-up after start-up (see extensions.py)

        if request.method != "POST":
            return Reply.text(405, "POST a JSON array of events")
        try:
            events = json.loads(request.body)
        except ValueError:
            return Reply.text(400, "body is not JSON")
        if not isinstance(events, list):
            return Reply.text(400, "body is not a JSON array")
        on_events([event for event in events if isinstance(event, dict)])
        return Reply.text(200, "OK")

    return handle


def _listen(host: str, port: int, on_events: EventsCallback) -> Server:
    limits = ServerLimits(max_body=MAX_DELIVERY_BYTES, max_connections=8, read_timeout=5.0)
    return Server(host, port, _handler(on_events), limits, "httprecap-telemetry").start()


def start_listener(lookup: HostLookup, port: int, on_events: EventsCallback) -> Server:
    """Listen for Telemetry API deliveries on port `port`.

    On `sandbox.localdomain`'s address if it has already resolved (it is in /etc/hosts where
    it exists), else on loopback at once and on the name's address too if it resolves later:
    start-up never waits for a resolver.
    """
    host = lookup.address(0.005)
    if host != LOOPBACK:
        try:
            return _listen(host, port, on_events)
        except OSError:
            log.info(f"cannot listen on {host}:{port}; listening on loopback")
    server = _listen(LOOPBACK, port, on_events)

    def also_listen(address: str) -> None:
        try:
            _listen(address, port, on_events)
        except OSError as exc:
            log.info(f"cannot listen on {address}:{port} ({exc}); loopback only")

    lookup.later(also_listen)
    return server
