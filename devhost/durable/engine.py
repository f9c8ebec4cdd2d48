"""The local Durable Task engine: replays orchestrators over a persisted history, runs activities
in a process pool, fires timers, runs sub-orchestrations, and resumes in-flight runs on restart.

Activities run in a pebble process pool, which isolates crashes: a worker that dies (a segfault,
an out-of-memory kill, `os._exit`) fails only the activity it was running, with a TaskFailed
naming the activity and the signal or exit code, and pebble starts a new worker in its place.
Every other activity, of this run or another, goes on. The failure then follows the
orchestrator's retry policy like any other activity error, so no orchestration waits for an
activity that no longer exists.

Each orchestration episode appends `OrchestratorStarted`, exactly one new event (a completion,
a timer, an external event, or `ExecutionStarted`), then the events for the actions the
orchestrator newly scheduled, then `OrchestratorCompleted` — the history the SDK's own
`handle(context)` replays. Sequence numbers follow DTFx: every scheduled task, timer or
sub-orchestration takes the next integer; a failed with-retry task takes a retry timer and,
after it fires, a new number for the next attempt. On each replay the actions the orchestrator
emits are checked against the recorded ones; a mismatch fails the instance as
non-deterministic, as the Durable extension does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from pebble import ProcessExpired, ProcessPool

from devhost.durable.functions import (
    ACTIVITY_TRIGGER,
    ORCHESTRATION_TRIGGER,
    DurableFunction,
    call_activity,
    describe_failure,
    index_app,
    init_worker,
    run_in_worker,
    warm_worker,
)
from devhost.durable.history import (
    ACTIVITY_ACTIONS,
    RETRY_ACTIONS,
    SUB_ORCHESTRATION_ACTIONS,
    SUPPORTED_ACTIONS,
    ActionType,
    EventType,
    Leaf,
    event,
    flatten,
    iso,
    parse_iso,
    utc_now,
)
from devhost.durable.store import Instance, InstanceStore
from shared.orchestration import TERMINAL, RuntimeStatus

log = logging.getLogger("devhost.durable")

OUT_OF_PROC_MARK = "\n\n$OutOfProcData$:"
RUNTIME_STATUSES = frozenset(get_args(RuntimeStatus))
COMPLETION_EVENTS = frozenset(
    {
        EventType.TASK_COMPLETED,
        EventType.TASK_FAILED,
        EventType.SUB_ORCHESTRATION_COMPLETED,
        EventType.SUB_ORCHESTRATION_FAILED,
    }
)

InvocationLogger = Callable[[str, str, float, str], None]


class InstanceExistsError(Exception):
    """An instance with that id is already running."""


class UnknownOrchestratorError(Exception):
    """No orchestrator function of that name."""


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000.0


class DurableEngine:
    """Runs the orchestrators and activities of one Function app against one task hub.

    `workers` activity processes (0 runs activities in threads of this process, for tests);
    `functions` may be given directly, else `app_ref` ("module:attribute") is indexed here
    and in every worker process.
    """

    def __init__(
        self,
        *,
        app_ref: str,
        data_dir: Path,
        hub: str = "TestHubName",
        workers: int | None = None,
        functions: dict[str, DurableFunction] | None = None,
        on_invocation: InvocationLogger | None = None,
    ) -> None:
        self.app_ref = app_ref
        self.hub = hub
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.functions = functions if functions is not None else index_app(app_ref)
        self.store = InstanceStore(data_dir / "durable" / hub / "instances")
        self.on_invocation = on_invocation
        self._instances: dict[str, Instance] = {}
        self._draining: set[str] = set()
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._inflight: set[tuple[str, int]] = set()
        self._futures: dict[tuple[str, int], Future[tuple[bool, str, str]]] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._pool: ProcessPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, warm: bool = True) -> None:
        """Start the worker pool and resume every in-flight instance found on disk."""
        self._loop = asyncio.get_running_loop()
        if self.workers > 0:
            self._pool = self._new_pool()
            if warm:
                pool = self._pool
                await asyncio.gather(
                    *(asyncio.wrap_future(pool.schedule(warm_worker)) for _ in range(self.workers))
                )
        for instance in self.store.all():
            self._instances[instance["instanceId"]] = instance
        for instance in list(self._instances.values()):
            if instance["runtimeStatus"] not in TERMINAL:
                log.info(
                    "resuming durable instance %s (%s)", instance["instanceId"], instance["name"]
                )
                self._redispatch(instance)
                self._kick(instance["instanceId"])

    def prestart(self) -> None:
        """Have the pool spawn its worker processes now, without waiting for them: spawning
        one as the first activity of a run arrives costs the host's event loop tens of ms
        while a request is in flight (issue 12)."""
        if self._pool is not None:
            for _ in range(self.workers):
                self._pool.schedule(warm_worker)

    async def stop(self) -> None:
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.stop()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(pool.join, 10.0)

    def _new_pool(self) -> ProcessPool:
        return ProcessPool(
            max_workers=self.workers,
            initializer=init_worker,
            initargs=(self.app_ref,),
            context=multiprocessing.get_context("spawn"),
        )

    # ------------------------------------------------------------------ client operations
    def start_new(
        self,
        name: str,
        instance_id: str | None = None,
        input_text: str | None = None,
        *,
        version: str | None = None,
        parent: tuple[str, int] | None = None,
    ) -> Instance:
        """Create an instance of orchestrator `name` (input as JSON text) and schedule it."""
        function = self.functions.get(name)
        if function is None or function.trigger_type != ORCHESTRATION_TRIGGER:
            raise UnknownOrchestratorError(
                f"The function '{name}' doesn't exist, is disabled, or is not an "
                "orchestrator function."
            )
        instance_id = instance_id or uuid.uuid4().hex
        existing = self._get(instance_id)
        if existing is not None and existing["runtimeStatus"] not in TERMINAL:
            raise InstanceExistsError(f"An instance with ID '{instance_id}' already exists.")
        now = utc_now()
        instance: Instance = {
            "instanceId": instance_id,
            "name": name,
            "version": version or "",
            "input": input_text,
            "parentInstanceId": parent[0] if parent else None,
            "parentTaskId": parent[1] if parent else None,
            "runtimeStatus": "Pending",
            "customStatus": None,
            "output": None,
            "createdTime": iso(now),
            "lastUpdatedTime": iso(now),
            "history": [],
            "inbox": [self._execution_started(name, input_text, version, parent, now)],
            "leaves": [],
            "nextId": 0,
            "outstanding": {},
            "retries": {},
        }
        self._instances[instance_id] = instance
        self.store.save(instance)
        self._kick(instance_id)
        return instance

    def status(self, instance_id: str) -> Instance | None:
        return self._get(instance_id)

    def instances(self) -> list[Instance]:
        known = dict(self._instances)
        for instance_id in self.store.ids():
            if instance_id not in known:
                loaded = self.store.load(instance_id)
                if loaded is not None:
                    known[instance_id] = loaded
        return sorted(known.values(), key=lambda item: item["createdTime"])

    def raise_event(self, instance_id: str, event_name: str, data_text: str | None) -> bool:
        """Queue an external event; False if the instance is unknown or ended."""
        instance = self._get(instance_id)
        if instance is None or instance["runtimeStatus"] in TERMINAL:
            return False
        instance["inbox"].append(event(EventType.EVENT_RAISED, Name=event_name, Input=data_text))
        self.store.save(instance)
        self._kick(instance_id)
        return True

    def terminate(self, instance_id: str, reason: str = "") -> bool:
        """End a running instance as Terminated. Its sub-orchestrations keep running, as in
        Azure: a caller that wants them gone terminates each one by its instance id."""
        instance = self._get(instance_id)
        if instance is None or instance["runtimeStatus"] in TERMINAL:
            return False
        now = utc_now()
        instance["history"].append(event(EventType.EXECUTION_TERMINATED, now, Input=reason))
        self._finish(instance, "Terminated", reason, now)
        self.store.save(instance)
        self._notify_parent(instance)
        return True

    def suspend(self, instance_id: str, reason: str = "") -> bool:
        instance = self._get(instance_id)
        if instance is None or instance["runtimeStatus"] in TERMINAL:
            return False
        instance["runtimeStatus"] = "Suspended"
        instance["history"].append(event(EventType.EXECUTION_SUSPENDED, Reason=reason))
        self._touch(instance)
        return True

    def resume(self, instance_id: str, reason: str = "") -> bool:
        instance = self._get(instance_id)
        if instance is None or instance["runtimeStatus"] != "Suspended":
            return False
        instance["runtimeStatus"] = "Running" if instance["history"] else "Pending"
        instance["history"].append(event(EventType.EXECUTION_RESUMED, Reason=reason))
        self._touch(instance)
        self._kick(instance_id)
        return True

    def purge(self, instance_id: str) -> bool:
        """Delete an ended instance's state; False if unknown (running ones are kept)."""
        instance = self._get(instance_id)
        if instance is None or instance["runtimeStatus"] not in TERMINAL:
            return False
        self._instances.pop(instance_id, None)
        return self.store.delete(instance_id)

    async def wait(self, instance_id: str, seconds: float = 60.0) -> Instance:
        """Wait until the instance ends; TimeoutError otherwise."""
        deadline = time.monotonic() + seconds
        while True:
            instance = self._get(instance_id)
            if instance is not None and instance["runtimeStatus"] in TERMINAL:
                return instance
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"instance {instance_id} did not finish in {seconds} s")
            changed = self._changed.setdefault(instance_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.5))
            changed.clear()

    # ------------------------------------------------------------------ internals
    def _get(self, instance_id: str) -> Instance | None:
        instance = self._instances.get(instance_id)
        if instance is None:
            instance = self.store.load(instance_id)
            if instance is not None:
                self._instances[instance_id] = instance
        return instance

    def _touch(self, instance: Instance, now: datetime | None = None) -> None:
        instance["lastUpdatedTime"] = iso(now or utc_now())
        self.store.save(instance)
        self._signal(instance["instanceId"])

    def _signal(self, instance_id: str) -> None:
        changed = self._changed.get(instance_id)
        if changed is not None:
            changed.set()

    @staticmethod
    def _execution_started(
        name: str,
        input_text: str | None,
        version: str | None,
        parent: tuple[str, int] | None,
        now: datetime,
    ) -> dict[str, Any]:
        parent_info = {"InstanceId": parent[0], "TaskScheduleId": parent[1]} if parent else None
        return event(
            EventType.EXECUTION_STARTED,
            now,
            Name=name,
            Input=input_text,
            Version=version or "",
            ParentInstance=parent_info,
        )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _kick(self, instance_id: str) -> None:
        if self._loop is None or self._stopped or instance_id in self._draining:
            return
        self._draining.add(instance_id)
        self._spawn(self._drain(instance_id))

    async def _drain(self, instance_id: str) -> None:
        try:
            while not self._stopped:
                instance = self._instances.get(instance_id)
                if (
                    instance is None
                    or not instance["inbox"]
                    or instance["runtimeStatus"] in TERMINAL | {"Suspended"}
                ):
                    return
                new_event = instance["inbox"].pop(0)
                work = await self._episode(instance, new_event)
                self.store.save(instance)
                self._signal(instance_id)
                for task_id, item in work:
                    self._dispatch(instance, task_id, item)
                if instance["runtimeStatus"] in TERMINAL:
                    self._notify_parent(instance)
                await asyncio.sleep(0)
        except Exception as error:
            log.exception("durable instance %s: the engine failed", instance_id)
            broken = self._instances.get(instance_id)
            if broken is not None and broken["runtimeStatus"] not in TERMINAL:
                self._finish(broken, "Failed", f"local durable host error: {error!r}", utc_now())
                self.store.save(broken)
                self._notify_parent(broken)
        finally:
            self._draining.discard(instance_id)

    def _next_id(self, instance: Instance) -> int:
        task_id = int(instance["nextId"])
        instance["nextId"] = task_id + 1
        return task_id

    async def _episode(
        self, instance: Instance, new_event: dict[str, Any]
    ) -> list[tuple[int, dict[str, Any]]]:
        """Apply one new event: replay the orchestrator, record and return the new work.

        The replay (the SDK running the orchestrator over the whole history, and the JSON
        around it) runs in a thread, as the Functions worker runs a sync orchestrator: a
        sweep planning thousands of chunks must not hold the loop that serves HTTP."""
        now = utc_now()
        kind = EventType(new_event["EventType"])
        outstanding: dict[str, Any] = instance["outstanding"]
        retries: dict[str, Any] = instance["retries"]
        work: list[tuple[int, dict[str, Any]]] = []
        scheduled: list[dict[str, Any]] = []

        if kind in COMPLETION_EVENTS:
            key = str(new_event["TaskScheduledId"])
            if key not in outstanding:
                log.debug(
                    "instance %s: ignoring completion of task %s", instance["instanceId"], key
                )
                return []
            outstanding.pop(key)
            retry = retries.pop(key, None)
            if retry is not None and kind in (
                EventType.TASK_FAILED,
                EventType.SUB_ORCHESTRATION_FAILED,
            ):
                timer_id = self._next_id(instance)
                fire_at = now + timedelta(milliseconds=retry["intervalMs"])
                scheduled.append(event(EventType.TIMER_CREATED, now, timer_id, FireAt=iso(fire_at)))
                work.append((timer_id, {"kind": "timer", "fireAt": iso(fire_at), "retry": retry}))
        elif kind == EventType.TIMER_FIRED:
            key = str(new_event["TimerId"])
            timer = outstanding.pop(key, None)
            if timer is None:
                return []
            retry = timer.get("retry")
            if retry is not None and retry["attempt"] < retry["maxAttempts"]:
                retry = {**retry, "attempt": retry["attempt"] + 1}
                task_id = self._next_id(instance)
                retries[str(task_id)] = retry
                scheduled.append(self._scheduled_event(instance, task_id, retry["work"], now))
                work.append((task_id, dict(retry["work"])))

        if instance["runtimeStatus"] == "Pending":
            instance["runtimeStatus"] = "Running"
        new_events = [event(EventType.ORCHESTRATOR_STARTED, now), new_event]
        history = [{**item, "IsPlayed": True} for item in instance["history"]] + new_events

        started = time.perf_counter()
        state, error = await asyncio.to_thread(self._replay, instance, history)
        self._log(instance["name"], ORCHESTRATION_TRIGGER, started, "failed" if error else "ok")
        if instance["runtimeStatus"] in TERMINAL:
            return []  # terminated while the orchestrator replayed: nothing more to record

        leaves = flatten(state.get("actions") or []) if state else []
        recorded: list[str] = instance["leaves"]
        if error is None:
            error = self._check_determinism(
                instance, leaves, recorded, bool(state and state.get("isDone"))
            )
        continue_as_new: dict[str, Any] | None = None
        if error is None:
            for leaf in leaves[len(recorded) :]:
                if leaf.type not in SUPPORTED_ACTIONS:
                    error = f"{leaf.signature()} is not supported by the local durable host"
                    break
                recorded.append(leaf.signature())
                if leaf.type == ActionType.CONTINUE_AS_NEW:
                    continue_as_new = leaf.action
                    continue
                if not leaf.takes_id:
                    continue
                task_id = self._next_id(instance)
                item = self._work_for(instance, leaf, task_id)
                if leaf.type in RETRY_ACTIONS:
                    options = leaf.action.get("retryOptions") or {}
                    retries[str(task_id)] = {
                        "attempt": 1,
                        "maxAttempts": int(options.get("maxNumberOfAttempts", 1)),
                        "intervalMs": int(options.get("firstRetryIntervalInMilliseconds", 0)),
                        "work": item,
                    }
                scheduled.append(self._scheduled_event(instance, task_id, item, now))
                work.append((task_id, item))

        if state is not None:
            instance["customStatus"] = state.get("customStatus")
        instance["history"].extend(new_events + scheduled)
        instance["history"].append(event(EventType.ORCHESTRATOR_COMPLETED, now))
        for task_id, item in work:
            outstanding[str(task_id)] = item

        if error is not None:
            message = f"Orchestrator function '{instance['name']}' failed: {error}"
            self._finish(instance, "Failed", message, now)
            return []
        if state is not None and state.get("isDone"):
            if continue_as_new is not None:
                self._continue_as_new(instance, continue_as_new.get("input"), now)
                return []
            self._finish(instance, "Completed", state.get("output"), now)
            return []
        instance["lastUpdatedTime"] = iso(now)
        return work

    def _replay(
        self, instance: Instance, history: list[dict[str, Any]]
    ) -> tuple[dict[str, Any] | None, str | None]:
        function = self.functions.get(instance["name"])
        if function is None:
            return None, f"The orchestrator '{instance['name']}' is not registered."
        context = {
            "history": history,
            "input": instance["input"],
            "instanceId": instance["instanceId"],
            "isReplaying": False,
            "parentInstanceId": instance["parentInstanceId"],
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 3,
        }
        try:
            return json.loads(function.call(json.dumps(context))), None
        except Exception as error:
            text = str(error)
            if OUT_OF_PROC_MARK in text:
                message, _, data = text.partition(OUT_OF_PROC_MARK)
                try:
                    return json.loads(data), message.strip() or "orchestrator raised"
                except ValueError:
                    return None, message.strip()
            return None, describe_failure(error)[0]

    @staticmethod
    def _check_determinism(
        instance: Instance, leaves: list[Leaf], recorded: list[str], done: bool
    ) -> str | None:
        for index, signature in enumerate(recorded[: len(leaves)]):
            if leaves[index].signature() != signature:
                return (
                    f"NonDeterministicOrchestrationException: replay of '{instance['name']}' "
                    f"({instance['instanceId']}) scheduled {leaves[index].signature()} as action "
                    f"#{index}, but the history records {signature}. Orchestrator code must be "
                    "deterministic (no clocks, random numbers, I/O or changing inputs)."
                )
        if len(leaves) < len(recorded) and not done:
            return (
                f"NonDeterministicOrchestrationException: replay of '{instance['name']}' "
                f"({instance['instanceId']}) scheduled {len(leaves)} actions, but the history "
                f"records {len(recorded)} (next: {recorded[len(leaves)]})."
            )
        return None

    def _work_for(self, instance: Instance, leaf: Leaf, task_id: int) -> dict[str, Any]:
        action = leaf.action
        if leaf.type in ACTIVITY_ACTIONS:
            return {
                "kind": "activity",
                "name": action["functionName"],
                "input": action.get("input"),
            }
        if leaf.type in SUB_ORCHESTRATION_ACTIONS:
            child = action.get("instanceId") or f"{instance['instanceId']}:{task_id:04X}"
            return {
                "kind": "suborchestration",
                "name": action["functionName"],
                "input": action.get("input"),
                "childId": child,
                "version": action.get("version"),
            }
        return {"kind": "timer", "fireAt": action["fireAt"]}

    @staticmethod
    def _scheduled_event(
        instance: Instance, task_id: int, item: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        if item["kind"] == "activity":
            return event(
                EventType.TASK_SCHEDULED, now, task_id, Name=item["name"], Input=item["input"]
            )
        if item["kind"] == "suborchestration":
            return event(
                EventType.SUB_ORCHESTRATION_CREATED,
                now,
                task_id,
                Name=item["name"],
                Input=item["input"],
                InstanceId=item["childId"],
            )
        return event(EventType.TIMER_CREATED, now, task_id, FireAt=item["fireAt"])

    def _finish(self, instance: Instance, status: str, output: Any, now: datetime) -> None:
        instance_id = instance["instanceId"]
        for key in list(instance["outstanding"]):
            handle = self._timers.pop((instance_id, int(key)), None)
            if handle is not None:
                handle.cancel()
            future = self._futures.pop((instance_id, int(key)), None)
            if future is not None:
                future.cancel()
        instance["outstanding"] = {}
        instance["retries"] = {}
        instance["inbox"] = []
        instance["runtimeStatus"] = status
        instance["output"] = output
        instance["lastUpdatedTime"] = iso(now)
        instance["history"].append(
            event(
                EventType.EXECUTION_COMPLETED,
                now,
                OrchestrationStatus=status,
                Result=json.dumps(output),
            )
        )
        self._signal(instance_id)

    def _continue_as_new(self, instance: Instance, input_text: str | None, now: datetime) -> None:
        carried = [
            item for item in instance["inbox"] if item["EventType"] == EventType.EVENT_RAISED
        ]
        for key in list(instance["outstanding"]):
            handle = self._timers.pop((instance["instanceId"], int(key)), None)
            if handle is not None:
                handle.cancel()
        parent = (
            (instance["parentInstanceId"], instance["parentTaskId"])
            if instance["parentInstanceId"]
            else None
        )
        instance.update(
            {
                "input": input_text,
                "runtimeStatus": "Running",
                "history": [],
                "inbox": [
                    self._execution_started(
                        instance["name"], input_text, instance["version"], parent, now
                    ),
                    *carried,
                ],
                "leaves": [],
                "nextId": 0,
                "outstanding": {},
                "retries": {},
                "lastUpdatedTime": iso(now),
            }
        )

    def _notify_parent(self, instance: Instance) -> None:
        parent_id = instance.get("parentInstanceId")
        if not parent_id:
            return
        parent = self._get(parent_id)
        if parent is None or parent["runtimeStatus"] in TERMINAL:
            return
        task_id = instance["parentTaskId"]
        if str(task_id) not in parent["outstanding"]:
            return
        if any(item.get("TaskScheduledId") == task_id for item in parent["inbox"]):
            return
        if instance["runtimeStatus"] == "Completed":
            completion = event(
                EventType.SUB_ORCHESTRATION_COMPLETED,
                TaskScheduledId=task_id,
                Result=json.dumps(instance["output"]),
            )
        else:
            completion = event(
                EventType.SUB_ORCHESTRATION_FAILED,
                TaskScheduledId=task_id,
                Reason=f"{instance['runtimeStatus']}: {instance['output']}",
                Details=f"sub-orchestration {instance['instanceId']} ({instance['name']}) "
                f"ended {instance['runtimeStatus']}",
            )
        parent["inbox"].append(completion)
        self.store.save(parent)
        self._kick(parent_id)

    # ------------------------------------------------------------------ work dispatch
    def _redispatch(self, instance: Instance) -> None:
        for key, item in instance["outstanding"].items():
            self._dispatch(instance, int(key), item)

    def _dispatch(self, instance: Instance, task_id: int, item: dict[str, Any]) -> None:
        instance_id = instance["instanceId"]
        if item["kind"] == "activity":
            if (instance_id, task_id) in self._inflight:
                return
            self._inflight.add((instance_id, task_id))
            self._spawn(self._run_activity(instance_id, task_id, item["name"], item["input"]))
        elif item["kind"] == "timer":
            if (instance_id, task_id) in self._timers or self._loop is None:
                return
            delay = max(0.0, (parse_iso(item["fireAt"]) - utc_now()).total_seconds())
            fired = event(EventType.TIMER_FIRED, TimerId=task_id, FireAt=item["fireAt"])
            self._timers[(instance_id, task_id)] = self._loop.call_later(
                delay, self._deliver_timer, instance_id, task_id, fired
            )
        else:
            child = self._get(item["childId"])
            earlier_attempt = (
                child is not None
                and child["parentTaskId"] != task_id
                and child["runtimeStatus"] in TERMINAL
            )
            if child is None or earlier_attempt:
                try:
                    self.start_new(
                        item["name"],
                        item["childId"],
                        item["input"],
                        version=item.get("version"),
                        parent=(instance_id, task_id),
                    )
                except (UnknownOrchestratorError, InstanceExistsError) as error:
                    self._deliver(
                        instance_id,
                        event(
                            EventType.SUB_ORCHESTRATION_FAILED,
                            TaskScheduledId=task_id,
                            Reason=str(error),
                            Details="",
                        ),
                    )
            elif child["runtimeStatus"] in TERMINAL:
                self._notify_parent(child)

    def _deliver_timer(self, instance_id: str, task_id: int, fired: dict[str, Any]) -> None:
        self._timers.pop((instance_id, task_id), None)
        fired["Timestamp"] = iso(utc_now())
        self._deliver(instance_id, fired)

    def _deliver(self, instance_id: str, new_event: dict[str, Any]) -> None:
        instance = self._instances.get(instance_id)
        if instance is None or instance["runtimeStatus"] in TERMINAL:
            return
        instance["inbox"].append(new_event)
        self._kick(instance_id)

    async def _run_activity(
        self, instance_id: str, task_id: int, name: str, input_text: str | None
    ) -> None:
        started = time.perf_counter()
        try:
            ok, payload, details = await self._execute(name, input_text, (instance_id, task_id))
        except asyncio.CancelledError:
            self._log(name, ACTIVITY_TRIGGER, started, "cancelled")
            return
        except Exception as error:
            # Whatever went wrong around the activity (a pool that refused the task, a result
            # that does not unpickle), the orchestration hears of it as this task's failure.
            log.exception("activity %s (%s #%d) could not run", name, instance_id, task_id)
            ok, (payload, details) = False, describe_failure(error)
        finally:
            self._inflight.discard((instance_id, task_id))
            self._futures.pop((instance_id, task_id), None)
        self._log(name, ACTIVITY_TRIGGER, started, "ok" if ok else f"failed: {payload}")
        if ok:
            completion = event(EventType.TASK_COMPLETED, TaskScheduledId=task_id, Result=payload)
        else:
            completion = event(
                EventType.TASK_FAILED, TaskScheduledId=task_id, Reason=payload, Details=details
            )
        self._deliver(instance_id, completion)

    async def _execute(
        self, name: str, input_text: str | None, key: tuple[str, int]
    ) -> tuple[bool, str, str]:
        assert self._loop is not None
        if self._pool is None:
            function = self.functions.get(name)
            if function is None or function.trigger_type != ACTIVITY_TRIGGER:
                return (
                    False,
                    f"The function '{name}' doesn't exist or is not an activity function.",
                    "",
                )
            try:
                return True, await asyncio.to_thread(call_activity, function, input_text), ""
            except Exception as error:
                reason, details = describe_failure(error)
                return False, reason, details
        future: Future[tuple[bool, str, str]] = self._pool.schedule(
            run_in_worker, args=(name, input_text)
        )
        self._futures[key] = future
        try:
            return await asyncio.wrap_future(future)
        except ProcessExpired as error:
            reason = worker_death(name, error.exitcode)
            log.error("%s (instance %s, task %d); a new worker replaces it", reason, *key)
            return False, reason, f"pid {error.pid}, exit code {error.exitcode}"

    def _log(self, name: str, trigger: str, started: float, outcome: str) -> None:
        if self.on_invocation is not None:
            self.on_invocation(name, trigger, (time.perf_counter() - started) * 1000.0, outcome)


def worker_death(activity: str, exitcode: int | None) -> str:
    """The TaskFailed reason of an activity whose worker process died."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return f"WorkerProcessDied: the worker running activity '{activity}' died ({how})"


@dataclass(frozen=True)
class EngineStatus:
    """An instance's status as the Durable client's `get_status` shows it."""

    runtime_status: str
    custom_status: Any
    output: Any


class EngineClient:
    """The in-process engine behind the Durable client's interface (start, status, terminate):
    what the run service (`shared.backtest.runs.RunService`) drives in the CLI and benches."""

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        return str(self.engine.start_new(name, instance_id, json.dumps(client_input))["instanceId"])

    async def get_status(self, instance_id: str) -> EngineStatus | None:
        instance = self.engine.status(instance_id)
        if instance is None:
            return None
        return EngineStatus(instance["runtimeStatus"], instance["customStatus"], instance["output"])

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.engine.terminate(instance_id, reason)
