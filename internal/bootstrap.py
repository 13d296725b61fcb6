"""Bootstrap: ``install()`` starts the internal extension in this process (function process).

Called once by the layer's ``sitecustomize`` at interpreter start. It reads the settings,
starts the transport (buffer + sender thread) and registers post-import hooks for the clients
we capture; none of those libraries is imported here. It is idempotent, never raises, and
fork-aware: a child process gets its own buffer, connection and sender thread, and says hello
with its own pid. A worker that Lambda Managed Instances forks at init runs an init of its
own; any other child (``os.fork``, ``multiprocessing``), and a Python subprocess that
inherited a request id (HTTPRECAP_CAPTURE_SUBPROCESSES), is a helper of the invocation in
progress (see ``invocation.adopt``): its calls carry that request id and are handed over as
each finishes.

Example (what sitecustomize does)::

    from httprecap.internal import bootstrap
    bootstrap.install()
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys

from httprecap.internal import diagnostics, hooks, invocation, patching
from httprecap.internal.capture import call as calls
from httprecap.internal.transport.buffer import Buffer, PromptBuffer
from httprecap.internal.transport.sender import Sender
from httprecap.settings import Settings

TYPE_CHECKING = False  # start-up budget: `typing` names are for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from httprecap.internal.transport.encode import Encoder
    from httprecap.internal.transport.record import End

# Module imported -> (capture module under httprecap.internal.capture, its patch function).
# A capture module is imported only once its client is (see `_deferred`); each names its
# target in a constant (MODULE, POOL_MODULE...), which tests/internal holds these names to.
# Order is irrelevant: each patch stands alone.
CAPTURES = (
    ("requests.sessions", "requests", "patch"),
    ("urllib3.connectionpool", "urllib3", "patch_pool"),
    ("urllib3.poolmanager", "urllib3", "patch_manager"),
    ("botocore.client", "botocore", "patch"),
    ("httpx", "httpx", "patch"),
    ("aiohttp", "aiohttp", "patch"),
)
# Module imported -> (its class, the method whose first call imports the capture module, the
# capture module, its wrapper of that method, the patch that adds the rest if any): urllib3
# imports http.client and requests imports urllib.request, so most functions load them, yet
# call neither (urllib3 2 overrides `request`): their captures load only once a call goes
# through them.
ON_FIRST_CALL: tuple[tuple[str, str, str, str, str, str | None], ...] = (
    ("http.client", "HTTPConnection", "request", "http_client", "on_request", "patch_connect"),
    ("urllib.request", "OpenerDirector", "open", "urllib_request", "on_open", None),
)
BATCH_SIZE = 1000  # a full batch wakes the sender before its next tick
EXIT_FLUSH_S = 0.1
HELPER_WAIT_S = 0.2  # a helper's call waits at most this long for its hand-over


class _Active:
    """What runs in this process, kept to start afresh in a forked child."""

    def __init__(self, settings: Settings, environ: Mapping[str, str], sender: Sender) -> None:
        self.settings = settings
        self.environ = environ
        self.sender = sender


class _State:
    active: _Active | None = None
    installed = False  # install() ran in this process (whatever its outcome)
    process_hooks = False  # fork and exit hooks registered (they cannot be unregistered)


_state = _State()


def install(environ: Mapping[str, str] | None = None) -> bool:
    """Start capturing in this process; True if it did. Idempotent, never raises."""
    if _state.installed:
        return False
    _state.installed = True
    try:
        env = os.environ if environ is None else environ
        settings = Settings.from_environ(env)
        if settings.disabled:
            return False
        diagnostics.configure(settings.log_level, settings.redact)
        _warn(settings)
        _start(settings, env)
        for module, patch in _targets():
            hooks.when_imported(module, patch)
        _register_process_hooks()
        return True
    except Exception as exc:
        diagnostics.swallowed("bootstrap.install", exc)
        return False


def uninstall() -> None:
    """Stop the sender and undo every patch and hook (tests; never needed on Lambda)."""
    active, _state.active = _state.active, None
    calls.configure(None)
    invocation.configure(None, None)
    hooks.remove_all()
    patching.unwrap_all()
    if active is not None:
        active.sender.stop()
    diagnostics.configure("warning")
    _state.installed = False


def sender() -> Sender | None:
    """The running sender, if any (tests flush it)."""
    return _state.active.sender if _state.active is not None else None


def _start(settings: Settings, environ: Mapping[str, str], *, worker: bool = False,
           helper: bool = False) -> None:
    """Capture in this process: at install, and afresh in a child after fork. `helper`: a
    forked child that keeps its parent's request id (see `_after_fork_in_child`)."""
    inherited = None if helper else invocation.inherited_request_id(environ)
    helper = helper or inherited is not None
    buffer = PromptBuffer(settings.buffer_records, BATCH_SIZE, HELPER_WAIT_S) if helper \
        else Buffer(settings.buffer_records, BATCH_SIZE)
    new_sender = Sender(buffer, _encoding(settings), settings.port, calls.open_calls,
                        helper=helper)
    invocation.configure(_handing_off(buffer.put_control), _flush_at_exit,
                         export=settings.capture_subprocesses)
    if isinstance(buffer, PromptBuffer):
        invocation.adopt(inherited)
        buffer.flush = new_sender.flush
    else:
        invocation.reset(worker=worker)
    calls.configure(buffer, _options(settings, environ))
    _state.active = _Active(settings, environ, new_sender)
    new_sender.start()


def _encoding(settings: Settings) -> Callable[[], Encoder]:
    """What makes the sender's encoder, on its thread (transport/sender.py)."""
    def make() -> Encoder:
        from httprecap.internal.transport.encode import Encoder
        from httprecap.redact import Redactor

        return Encoder(Redactor(settings.redact, settings.body_max_bytes),
                       settings.capture_headers or settings.capture_bodies)

    return make


def _options(settings: Settings, environ: Mapping[str, str]) -> calls.Options:
    """What capture copies besides the basics, and what it never records."""
    return calls.Options(
        headers=settings.capture_headers,
        bodies=settings.capture_bodies,
        body_window=settings.body_max_bytes + 1024,
        excluded=_excluded(settings.port, environ),
    )


def _handing_off(put_control: Callable[[End], None]) -> Callable[[End], None]:
    """A phase's `end`, queued after the calls whose response body is still being read: they
    belong in its recap (capture/reading.py)."""
    def hand_off(marker: End) -> None:
        _bodies("hand_over_all")
        put_control(marker)

    return hand_off


# Follows the bodies read after their call (capture/reading.py). It loads with the first such
# body: until it has loaded (whole: a thread may be importing it), no call waits for a body.
READING_MODULE = "httprecap.internal.capture.reading"


def _bodies(action: str) -> None:
    """`hand_over_all` or `forget_all` of capture/reading.py, once it is loaded."""
    run = getattr(sys.modules.get(READING_MODULE), action, None)
    if run is not None:
        run()


def _excluded(port: int, environ: Mapping[str, str]) -> frozenset[tuple[str, int]]:
    """Our own collector and the Runtime API (awslambdaric's http.client calls to it)."""
    excluded = {("127.0.0.1", port), ("localhost", port)}
    host, _, runtime_port = environ.get("AWS_LAMBDA_RUNTIME_API", "").rpartition(":")
    if host and runtime_port.isdigit():
        excluded.add((host, int(runtime_port)))
    return frozenset(excluded)


def _warn(settings: Settings) -> None:
    if not settings.warnings and not settings.redact:  # (the usual case: nothing to say)
        return
    from httprecap.redact import Redactor

    messages = [f"httprecap: {warning}" for warning in settings.warnings]
    redactor = Redactor(settings.redact)
    messages += [f"httprecap: HTTPRECAP_REDACT pattern {p!r} is not a valid regular "
                 "expression; ignored" for p in redactor.invalid_patterns]
    for message in messages:
        # A warning that names a setting's value shows it redacted, as records are.
        print(redactor.text(message, limit=1000), file=sys.stderr)


def _register_process_hooks() -> None:
    if _state.process_hooks:
        return
    _state.process_hooks = True
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
    atexit.register(_flush_at_exit)


# What the sender thread loads when it first needs it (its connection, its encoder, the
# redaction rules), in the order it does.
SENDER_MODULES = ("socket", "httprecap.redact", "httprecap.redact_text",
                  "httprecap.internal.transport.encode")


def _before_fork() -> None:
    """Load what the sender thread loads lazily before the process forks: were the thread
    importing one of these modules at this moment, the child would inherit the module's import
    lock held by a thread it does not have, and its own sender would wait on it for ever. A
    capture module another thread is importing (they load with a client's first call, or its
    first streamed body) is waited for too."""
    try:
        for name in SENDER_MODULES:
            if name not in sys.modules or _initializing(sys.modules[name]):
                importlib.import_module(name)  # (waits for the sender's import to finish)
        for name, module in tuple(sys.modules.items()):
            if name.startswith("httprecap.") and _initializing(module):
                importlib.import_module(name)
    except Exception as exc:
        diagnostics.swallowed("bootstrap.before_fork", exc)
    # The same for a capture loading at its first call: held across the fork, never
    # inherited held by another thread (released on both sides).
    patching.loading.acquire()


def _after_fork_in_parent() -> None:
    patching.loading.release()


def _initializing(module: object) -> bool:
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _after_fork_in_child() -> None:
    """Threads do not survive fork() and sockets are shared: start afresh in the child, with
    an init phase of its own if it is a Lambda Managed Instances worker, else as a helper of
    the invocation (or init) in progress."""
    patching.loading.release()
    try:
        active = _state.active
        if active is None:
            return
        worker = invocation.forks_workers(active.environ)
        active.sender.connection.close()
        calls.current_reset()
        _bodies("forget_all")
        _start(active.settings, active.environ, worker=worker, helper=not worker)
    except Exception as exc:
        diagnostics.swallowed("bootstrap.after_fork_in_child", exc)


def _targets() -> list[tuple[str, Callable[[Any], None]]]:
    """Module imported -> patch to apply: the captures, the runtime client, multiprocessing's
    preparation of a child, `os._exit`."""
    targets: list[tuple[str, Callable[[Any], None]]] = [
        (invocation.RUNTIME_CLIENT_MODULE, invocation.patch_runtime_client),
        (invocation.SPAWN_MODULE, invocation.patch_spawn),
        ("os", _patch_os_exit),
    ]
    targets += [(module, _deferred(capture, patch)) for module, capture, patch in CAPTURES]
    targets += [(module, _on_first_call(owner, method, capture, wrapper, rest))
                for module, owner, method, capture, wrapper, rest in ON_FIRST_CALL]
    return targets


def _deferred(capture: str, patch: str) -> Callable[[Any], None]:
    """A patch that imports its capture module only now that the client is imported: a
    client the function never imports costs nothing at start-up (nor does its capture's
    `contextvars`, for the async ones)."""
    def apply(module: Any) -> None:
        getattr(_capture_module(capture), patch)(module)

    return apply


def _capture_module(capture: str) -> Any:
    return importlib.import_module(f"httprecap.internal.capture.{capture}")


def _on_first_call(owner: str, method: str, capture: str, wrapper: str,
                   rest: str | None) -> Callable[[Any], None]:
    """A patch that puts a stand-in on `owner.method` now; at the first call through it, the
    capture module is imported, its `rest` applied, and its `wrapper` takes the calls
    (patching.wrap_on_first_call)."""
    def apply(module: Any) -> None:
        def load() -> patching.Wrapper:
            loaded = _capture_module(capture)
            if rest is not None:
                getattr(loaded, rest)(module)
            found: patching.Wrapper = getattr(loaded, wrapper)
            return found

        patching.wrap_on_first_call(getattr(module, owner), method, load)

    return apply


def _patch_os_exit(module: Any) -> None:
    """`os._exit` skips atexit: a handler that calls it (or a crashing library) would lose the
    calls it just finished. Hand them over first, within the same short bound as at exit."""
    patching.wrap(module, "_exit", _flush_then_exit)


def _flush_then_exit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        _flush_at_exit()
    except Exception as exc:
        diagnostics.swallowed("bootstrap.flush_then_exit", exc)
    return wrapped(*args, **kwargs)


def _flush_at_exit() -> None:
    active = _state.active
    _bodies("hand_over_all")  # bodies still being read: their calls go with the rest
    if active is not None and active.sender.buffer.items and active.sender.breaker.closed():
        active.sender.flush(EXIT_FLUSH_S)
