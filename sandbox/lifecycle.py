"""Lifecycle: init, reset and shutdown of the execution environment in RAPID's order
(dev-time sandbox process, run by the sandbox's worker thread).

Init (docs/PROTOCOL.md, 3.1): platform.initStart -> launch every extension -> wait until every
launched one registered -> start the runtime -> wait for its first /next (registration closes)
-> wait until every agent called /event/next -> close subscriptions -> initRuntimeDone ->
platform.extension per agent -> initReport. Shutdown and reset (3.3, 3.4): runtime SIGTERM,
30 % of the budget, SIGKILL; SHUTDOWN to the externals subscribed to it, SIGKILL for the
others; wait for their exit until the budget ends; SIGKILL whatever is left.

The invoke itself is in invoke.py (managed.py for Lambda Managed Instances, where the init is
the same but for its `initializationType` and the log socket the runtime's workers write to);
both wait on the Platform's condition variable for what the API handlers report.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from httprecap.sandbox.config import FunctionConfig
from httprecap.sandbox.environ import Places, extension_env, log_stream_name, runtime_env
from httprecap.sandbox.logs import LogBook, extension_line, init_report_line, init_start_line
from httprecap.sandbox.logsocket import LogSocket
from httprecap.sandbox.memory import MemoryWatch
from httprecap.sandbox.opt import extension_paths
from httprecap.sandbox.processes import ManagedProcess, exit_description
from httprecap.sandbox.state import Failure, Instance, Platform

TIMED_OUT = Failure("Sandbox.Timedout", "Task timed out", status="timeout")
ABORTED = Failure("Sandbox.Failure", "the sandbox is shutting down", status="failure")

# Shutdown budgets (docs/PROTOCOL.md, 3.3): none without extensions, 500 ms with internal ones only,
# 2 s as soon as one external extension registered. The runtime gets 30 % of it.
BUDGET_INTERNAL_S = 0.5
BUDGET_EXTERNAL_S = 2.0
RUNTIME_SHARE = 0.3


def epoch_ms(deadline: float) -> int:
    """A perf_counter deadline as epoch milliseconds, the unit of Lambda's deadlineMs."""
    return int((time.time() + deadline - time.perf_counter()) * 1000)


class Lifecycle:
    """Owns the environment's instances; one at a time, replaced after every reset."""

    def __init__(self, config: FunctionConfig, places: Places, platform: Platform,
                 logs: LogBook) -> None:
        self.config = config
        self.places = places
        self.platform = platform
        self.telemetry = platform.telemetry
        self.logs = logs
        self.memory = MemoryWatch(config.memory_size_mb, partial(logs.add, "platform"))
        self.log_stream = log_stream_name()
        self.initialised_once = False
        self._aborted = False
        self.log_socket: LogSocket | None = None
        if config.managed_instances and places.log_socket is not None:
            self.log_socket = LogSocket(places.log_socket, self.line_sink("function"))

    # -- waiting on the APIs ------------------------------------------------------------------

    def wait(self, instance: Instance, predicate: Callable[[], bool],
             deadline: float) -> Failure | None:
        """None when `predicate` holds; else the instance's failure, a timeout or an abort."""
        cond = self.platform.cond
        with cond:
            while not predicate():
                if instance.failure is not None:
                    return instance.failure
                if self._aborted:
                    return ABORTED
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return TIMED_OUT
                cond.wait(remaining)
        return None

    def abort(self) -> None:
        """Make every wait give up (the sandbox is closing under an invoke, e.g. Ctrl-C)."""
        with self.platform.cond:
            self._aborted = True
            self.platform.cond.notify_all()

    def line_sink(self, source: str) -> Callable[[str], None]:
        def on_line(text: str) -> None:
            self.logs.add("function" if source == "function" else "extension", text)
            self.telemetry.emit(source, text)

        return on_line

    # -- init ---------------------------------------------------------------------------------

    def init(self, phase: str, deadline: float) -> tuple[float, Failure | None]:
        """Run one init; returns its duration (ms) and its failure. Never spins down."""
        self.initialised_once = True
        started = time.perf_counter()
        instance = Instance(phase)
        with self.platform.cond:
            self.platform.instance = instance
        self.telemetry.open_subscriptions()
        self.telemetry.emit("platform.initStart", self._init_start_record(phase))
        self.logs.add("platform", init_start_line(self.config.runtime_version,
                                                  self.config.runtime_version_arn))
        self.memory.watch(instance)
        failure = self._run_init(instance, deadline)
        duration_ms = (time.perf_counter() - started) * 1000
        self._report_init(instance, phase, duration_ms, failure)
        return duration_ms, failure

    def _init_start_record(self, phase: str) -> dict[str, Any]:
        return {"initializationType": self.config.init_type, "phase": phase,
                "runtimeVersion": self.config.runtime_version,
                "runtimeVersionArn": self.config.runtime_version_arn,
                "functionName": self.config.function_name, "functionVersion": "$LATEST",
                "instanceId": self.log_stream,
                "instanceMaxMemory": self.config.memory_size_mb * 1024 * 1024}

    def _run_init(self, instance: Instance, deadline: float) -> Failure | None:
        failure = self._launch_extensions(instance)
        failure = failure or self.wait(instance, lambda: all(
            instance.agent_named(name) for name in instance.launched), deadline)
        failure = failure or self._start_runtime(instance)
        failure = failure or self.wait(
            instance, lambda: instance.runtime.first_next_at is not None, deadline)
        failure = failure or self.wait(instance, lambda: all(
            agent.called_next for agent in instance.agents.values()), deadline)
        with self.platform.cond:
            instance.subscriptions_open = False
        self.telemetry.close_subscriptions()
        return failure

    def _launch_extensions(self, instance: Instance) -> Failure | None:
        env = extension_env(self.config, self.places, self.platform.api_address)
        # Under the lock: a fast extension's /register must find every launched name.
        with self.platform.cond:
            for path in extension_paths(self.places.opt):
                try:
                    instance.launched[path.name] = ManagedProcess(
                        path.name, [str(path)], env, self.places.task,
                        on_line=self.line_sink("extension"),
                        on_exit=partial(self._extension_exited, instance))
                except OSError as exc:
                    return Failure("Extension.LaunchError", f"{path.name}: {exc.strerror or exc}")
        return None

    def _start_runtime(self, instance: Instance) -> Failure | None:
        env = runtime_env(self.config, self.places, self.platform.api_address, self.log_stream)
        bootstrap = self.places.runtime_dir / "bootstrap"
        try:
            process = ManagedProcess("runtime", [str(bootstrap)], env, self.places.task,
                                     on_line=self.line_sink("function"),
                                     on_exit=partial(self._runtime_exited, instance))
        except OSError as exc:
            return Failure("Runtime.InvalidEntrypoint", str(exc))
        with self.platform.cond:
            instance.runtime.process = process
        return None

    def _runtime_exited(self, instance: Instance, process: ManagedProcess) -> None:
        code = process.returncode or 0
        reason = ("Runtime exited without providing a reason" if code == 0
                  else f"Runtime exited with error: {exit_description(code)}")
        with self.platform.cond:
            instance.fail(Failure("Runtime.ExitError", reason))
            self.platform.cond.notify_all()

    def _extension_exited(self, instance: Instance, process: ManagedProcess) -> None:
        description = exit_description(process.returncode or 0)
        with self.platform.cond:
            instance.fail(Failure("Extension.Crash",
                                  f"Extension {process.name} exited: {description}"))
            self.platform.cond.notify_all()

    def _report_init(self, instance: Instance, phase: str, duration_ms: float,
                     failure: Failure | None) -> None:
        status = "success" if failure is None else failure.status
        record: dict[str, Any] = {"initializationType": self.config.init_type, "phase": phase,
                                  "status": status}
        if failure is not None and failure.status != "timeout":
            record["errorType"] = failure.error_type
        self.telemetry.emit("platform.initRuntimeDone", record)
        with self.platform.cond:
            agents = list(instance.agents.values())
        for agent in agents:
            state = "Ready" if agent.called_next else "Registered"
            self.telemetry.emit("platform.extension", {
                "name": agent.name, "state": state, "events": list(agent.events)})
            self.logs.add("platform", extension_line(agent.name, state, list(agent.events)))
        self.telemetry.emit("platform.initReport",
                            {**record, "metrics": {"durationMs": round(duration_ms, 3)}})
        if failure is not None:
            self.logs.add("platform", init_report_line(duration_ms, phase, status,
                                                       record.get("errorType")))

    # -- freeze -------------------------------------------------------------------------------

    def freeze(self, instance: Instance) -> None:
        """Stop every process once runtime and agents wait in next (Lambda's freeze)."""
        if not self.config.freeze or instance.frozen:
            return
        self.telemetry.pause()
        self.memory.pause()
        for process in instance.processes():
            process.freeze()
        instance.frozen = True

    def thaw(self, instance: Instance) -> None:
        if instance.frozen:
            for process in instance.processes():
                process.thaw()
            instance.frozen = False
        self.memory.resume()
        self.telemetry.resume()

    # -- reset and shutdown -------------------------------------------------------------------

    def spin_down(self, instance: Instance, reason: str) -> None:
        """Shut the instance down (reason spindown, timeout or failure) within its budget."""
        with self.platform.cond:
            instance.closing = True
            instance.registration_open = False
            has_agents = bool(instance.agents)
        self.thaw(instance)
        budget = 0.0
        if has_agents:
            budget = BUDGET_EXTERNAL_S if instance.has_external_agents() else BUDGET_INTERNAL_S
        deadline = time.perf_counter() + budget
        self._stop_runtime(instance, budget)
        self.telemetry.flush()
        for process in self._send_shutdown(instance, reason, deadline):
            process.exited.wait(max(0.0, deadline - time.perf_counter()))
        self._finish_processes(instance)
        with self.platform.cond:
            instance.closed = True
            if self.platform.instance is instance:
                self.platform.instance = None
            self.platform.cond.notify_all()

    def _stop_runtime(self, instance: Instance, budget: float) -> None:
        process = instance.runtime.process
        if process is None:
            return
        if budget > 0:
            process.signal_leader(signal.SIGTERM)
            process.exited.wait(budget * RUNTIME_SHARE)
        process.kill()
        process.exited.wait(1.0)
        process.drain()

    def _send_shutdown(self, instance: Instance, reason: str,
                       deadline: float) -> list[ManagedProcess]:
        event = json.dumps({"eventType": "SHUTDOWN", "deadlineMs": epoch_ms(deadline),
                            "shutdownReason": reason}, separators=(",", ":")).encode()
        notified = []
        with self.platform.cond:
            for name, process in instance.launched.items():
                agent = instance.agent_named(name)
                if agent and "SHUTDOWN" in agent.events and not process.exited.is_set():
                    agent.pending.append(event)
                    notified.append(process)
                else:
                    process.kill()
            self.platform.cond.notify_all()
        return notified

    def _finish_processes(self, instance: Instance) -> None:
        processes = instance.processes()
        for process in processes:
            process.kill()
        # Subscribers had their chance while handling SHUTDOWN; they are gone now.
        self.telemetry.close_streams(time.perf_counter())
        for process in processes:
            process.exited.wait(1.0)
            process.join_output(1.0)

    def shutdown(self) -> None:
        instance = self.platform.instance
        if instance is not None:
            self.spin_down(instance, "spindown")
        self.memory.stop()
        if self.log_socket is not None:
            self.log_socket.close()

    def drain_output(self, instance: Instance, function_only: bool = False) -> None:
        """Wait until the lines the processes printed so far are in the log book; with
        `function_only`, those of the runtime process alone."""
        if function_only:
            runtime = instance.runtime.process
            processes = [] if runtime is None else [runtime]
        else:
            processes = instance.processes()
        for process in processes:
            process.drain()
        if self.log_socket is not None:
            self.log_socket.drain()

    def kill_everything(self) -> None:
        """Last resort (atexit, a second Ctrl-C): SIGKILL every process group, no questions."""
        instance = self.platform.instance
        if instance is not None:
            for process in instance.processes():
                process.kill()
