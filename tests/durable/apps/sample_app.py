"""A small Function app exercising the local durable host: sequences, fan-out, retries, timers,
events, sub-orchestrations, continue-as-new and a deliberately non-deterministic orchestrator."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()


def _data_dir() -> Path:
    path = Path(os.environ.get("LOCAL_DATA_DIR", ".data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@bp.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@bp.activity_trigger(input_name="value")
def square(value: int) -> int:
    return value * value


@bp.activity_trigger(input_name="job")
def flaky(job: dict[str, Any]) -> str:
    """Fails the first `fail` calls for `key` (counted in a file), then succeeds."""
    counter = _data_dir() / f"flaky-{job['key']}"
    calls = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(calls + 1))
    if calls < job["fail"]:
        raise ValueError(f"flaky {job['key']} attempt {calls + 1} failed")
    return f"ok after {calls + 1}"


@bp.activity_trigger(input_name="seconds")
def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@bp.activity_trigger(input_name="unused", activity="renamed_activity")
def pid_activity(unused: Any) -> int:
    return os.getpid()


@bp.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("say_hello", city)))
    return results


@bp.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()["count"]
    tasks = [context.call_activity("square", i) for i in range(count)]
    pending = list(tasks)
    done = 0
    while pending:
        finished = yield context.task_any(pending)
        pending.remove(finished)
        done += 1
        context.set_custom_status({"done": done, "total": count})
    return sum(task.result for task in tasks)


@bp.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    first, second = yield context.task_all(
        [
            context.call_activity_with_retry("flaky", options, {**job, "key": job["key"] + "-a"}),
            context.call_activity_with_retry("flaky", options, {**job, "key": job["key"] + "-b"}),
        ]
    )
    after = yield context.call_activity("say_hello", "after")
    return [first, second, after]


@bp.orchestration_trigger(context_name="context")
def timers_and_events(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=200))
    context.set_custom_status("waiting for Approval")
    approval = context.wait_for_external_event("Approval")
    timeout = context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        return {"approved": approval.result}
    return {"approved": None}


@bp.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    children = [
        context.call_sub_orchestrator("hello_sequence", ["A", "B"]),
        context.call_sub_orchestrator(
            "hello_sequence", ["C"], instance_id=f"{context.instance_id}-c"
        ),
    ]
    results = yield context.task_all(children)
    return results


@bp.orchestration_trigger(context_name="context")
def waiting_parent(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator(
        "timers_and_events", None, instance_id=f"{context.instance_id}-child"
    )
    return result


@bp.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    value = context.get_input() or 0
    squared = yield context.call_activity("square", value)
    if value < 2:
        context.continue_as_new(value + 1)
        return None
    return {"value": value, "squared": squared}


@bp.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=2)
    yield context.call_activity_with_retry(
        "flaky", options, {"key": context.instance_id, "fail": 99}
    )
    return "unreachable"


@bp.orchestration_trigger(context_name="context")
def fickle(context: df.DurableOrchestrationContext):
    """Schedules a different activity once a flag file exists: non-deterministic on purpose."""
    first = "square" if (_data_dir() / "fickle-flag").exists() else "say_hello"
    yield context.call_activity(first, 2 if first == "square" else "x")
    context.set_custom_status("waiting")
    yield context.wait_for_external_event("go")
    return first


@bp.orchestration_trigger(context_name="context", orchestration="renamed_orchestrator")
def slow_pair(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    pids = yield context.task_all(
        [context.call_activity("nap", seconds) for _ in range(4)]
        + [context.call_activity("renamed_activity", None)]
    )
    return pids


@bp.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("flaky", context.get_input())
    return result


@bp.orchestration_trigger(context_name="context")
def retrying_parent(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=30, max_number_of_attempts=3)
    job = {"key": context.instance_id, "fail": 1}
    result = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", options, job, f"{context.instance_id}-child"
    )
    return result


app = func.FunctionApp()
app.register_functions(bp)
