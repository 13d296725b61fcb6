"""The sandbox: a local Lambda execution environment behind a small Python API
(dev-time process that owns the APIs and the process tree).

Example::

    with Sandbox(FunctionConfig(code_dir=Path("examples/hello"), handler="app.handler")) as box:
        result = box.invoke({"name": "x"})
        print(result.payload, result.duration_ms)

`__enter__` only lays out /opt and /var/runtime and starts the API server; the environment is
initialised by the first invoke, as Lambda's on-demand init is. Every lifecycle step runs on
one worker thread: invokes queue there one at a time, and child processes are started from that
long-lived thread so PR_SET_PDEATHSIG ties them to the sandbox's life (see processes.py).

With `FunctionConfig(max_concurrency=N)` the environment is a Lambda Managed Instances one
(managed.py): up to N invokes run at once, each on a thread of its own; the lifecycle steps
still run on the one worker thread.
"""

from __future__ import annotations

import atexit
import json
import shlex
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import TracebackType
from typing import Any

from httprecap.errors import UsageError
from httprecap.sandbox.api import extensions_api, runtime_api, telemetry_api
from httprecap.sandbox.api.server import ApiServer
from httprecap.sandbox.config import FunctionConfig, validate
from httprecap.sandbox.environ import Places
from httprecap.sandbox.invoke import Invoker, OnResponse
from httprecap.sandbox.lifecycle import Lifecycle
from httprecap.sandbox.logs import LogBook, LogLine, OnLog
from httprecap.sandbox.managed import ManagedInvoker, run_and_wait
from httprecap.sandbox.opt import unpack_layers
from httprecap.sandbox.results import InvokeResult
from httprecap.sandbox.state import Platform
from httprecap.sandbox.telemetry_delivery import Event, TelemetryHub

RUNTIME_FILES = Path(__file__).resolve().parent / "runtime"
ROUTES = runtime_api.ROUTES + extensions_api.ROUTES + telemetry_api.ROUTES
SHUTDOWN_WAIT_S = 15.0


class Sandbox:
    """One function's execution environment; see the module docstring for an example."""

    def __init__(self, config: FunctionConfig, on_log: OnLog | None = None) -> None:
        self.config = config
        self._logbook = LogBook(on_log)
        self._telemetry = TelemetryHub()
        self._scratch: Path | None = None
        self._server: ApiServer | None = None
        self._lifecycle: Lifecycle | None = None
        self._invoker: Invoker | None = None
        self._worker: ThreadPoolExecutor | None = None
        self._managed: ManagedInvoker | None = None
        self._concurrent: ThreadPoolExecutor | None = None
        self._futures: list[Future[InvokeResult]] = []
        self._futures_lock = threading.Lock()
        self._closed = False

    # -- context ------------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.shutdown()

    def start(self) -> None:
        """Lay out the private /opt and /var/runtime and start the APIs (cheap; no process)."""
        validate(self.config)
        try:
            self._start()
        except BaseException:
            self.shutdown()
            raise

    def _start(self) -> None:
        self._logbook.settings = self.config.logging
        self._telemetry.listeners.append(self._logbook.add_event)
        self._scratch = Path(tempfile.mkdtemp(prefix="httprecap-sandbox-"))
        places = Places(opt=self._scratch / "opt", runtime_dir=self._scratch / "runtime",
                        task=self.config.code_dir.resolve(),
                        log_socket=self._scratch / "logs.sock"
                        if self.config.managed_instances else None)
        unpack_layers(self.config.layers, places.opt)
        _install_runtime(places.runtime_dir, self.config)
        platform = Platform(self.config, self._telemetry)
        self._server = ApiServer(platform, ROUTES)
        platform.api_address = self._server.address
        self._server.start()
        self._lifecycle = Lifecycle(self.config, places, platform, self._logbook)
        self._invoker = Invoker(self._lifecycle)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox")
        if self.config.max_concurrency is not None:
            self._managed = ManagedInvoker(self._lifecycle, run_and_wait(self._worker.submit))
            self._concurrent = ThreadPoolExecutor(max_workers=self.config.max_concurrency,
                                                  thread_name_prefix="sandbox-invoke")
        atexit.register(self._kill_everything)

    # -- what callers use --------------------------------------------------------------------

    @property
    def runtime_api(self) -> str:
        """host:port of the Runtime/Extensions/Telemetry APIs (AWS_LAMBDA_RUNTIME_API)."""
        if self._server is None:
            raise UsageError("the sandbox is not started")
        return self._server.address

    @property
    def opt_dir(self) -> Path:
        """The private directory that plays /opt."""
        if self._scratch is None:
            raise UsageError("the sandbox is not started")
        return self._scratch / "opt"

    @property
    def logs(self) -> list[LogLine]:
        return self._logbook.all()

    @property
    def telemetry(self) -> list[Event]:
        return self._telemetry.snapshot()

    def invoke(self, event: Any, trace_id: str | None = None,
               on_response: OnResponse | None = None) -> InvokeResult:
        """Invoke and wait until the whole invoke is over (environment frozen again)."""
        return result_of(self.invoke_async(event, trace_id, on_response))

    def invoke_async(self, event: Any, trace_id: str | None = None,
                     on_response: OnResponse | None = None) -> Future[InvokeResult]:
        """Queue an invoke; `on_response` fires the moment the runtime posts its response.

        Classic mode runs one invoke at a time; with `max_concurrency=N` up to N at once.
        """
        if self._worker is None or self._invoker is None or self._closed:
            raise UsageError("the sandbox is not running")
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        if self._managed is not None and self._concurrent is not None:
            future = self._concurrent.submit(self._managed.invoke, body, trace_id, on_response,
                                             time.perf_counter())
        else:
            future = self._worker.submit(self._invoker.invoke, body, trace_id, on_response)
        with self._futures_lock:  # `serve` invokes from many threads at once
            self._futures = [pending for pending in self._futures if not pending.done()]
            self._futures.append(future)
        return future

    def shutdown(self) -> None:
        """SHUTDOWN (spindown) to the extensions, then stop everything. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._spin_down()
        finally:
            self._kill_everything()
            self._release()

    def _spin_down(self) -> None:
        lifecycle, worker = self._lifecycle, self._worker
        if lifecycle is None or worker is None:
            return
        with self._futures_lock:
            futures = list(self._futures)
        for future in futures:
            future.cancel()  # queued ones never start
        if any(not future.done() for future in futures):
            lifecycle.abort()  # an invoke is under way (Ctrl-C): let it give up now
        worker.submit(lifecycle.shutdown).result(timeout=SHUTDOWN_WAIT_S)

    def _kill_everything(self) -> None:
        if self._lifecycle is not None:
            self._lifecycle.kill_everything()

    def _release(self) -> None:
        atexit.unregister(self._kill_everything)
        if self._server is not None:
            self._server.close()
        for executor in (self._concurrent, self._worker):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def _install_runtime(runtime_dir: Path, config: FunctionConfig) -> None:
    """Write the files that play /var/runtime: bootstrap (from its template) and bootstrap.py."""
    runtime_dir.mkdir(parents=True)
    major, minor = config.python_version
    template = (RUNTIME_FILES / "bootstrap.sh").read_text()
    script = (template.replace("@PYTHON@", shlex.quote(config.python))
              .replace("@EXECUTION_ENV@", f"AWS_Lambda_python{major}.{minor}"))
    bootstrap = runtime_dir / "bootstrap"
    bootstrap.write_text(script)
    bootstrap.chmod(0o755)
    shutil.copyfile(RUNTIME_FILES / "bootstrap.py", runtime_dir / "bootstrap.py")


def result_of(future: Future[InvokeResult]) -> InvokeResult:
    """The future's result, waited for in short steps: Ctrl-C reaches the main thread only
    when it runs Python code, and a wait without a timeout may never return to it (the
    kernel may hand SIGINT to another thread, which does not wake this one)."""
    while True:
        try:
            return future.result(timeout=0.2)
        except FutureTimeout:
            continue
